"""HTTP routes, one module per resource: the book's ``/generate`` and the OpenAI API."""
