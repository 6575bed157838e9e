"""What a shopper's message asks for, and the answers that need no chat model: the words
the rules know (``vocabulary``), the constraints and orders they produce
(``constraints``), the rule-based parser (``query_parser``), constraint-aware catalog
search (``search``) and the retrieval-only table answers with their follow-ups
(``retrieval_only``). A small, documented rule set; no model.
"""
