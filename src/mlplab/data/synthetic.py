"""placeholder: generators are registered here."""
