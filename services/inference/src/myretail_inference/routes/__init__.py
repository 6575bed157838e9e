"""HTTP routes, one module per resource: the seed's ``/generate`` and the OpenAI API."""
