"""The MyRetail fine-tune Job: turns the loyalty FAQ into a versioned adapter.

Modules, one concern each: ``config`` (settings from env and YAML), ``data`` (JSONL
loading, validation, tokenization), ``tiny_base`` (the small local base model),
``modeling`` (loading the base model per profile), ``training`` (the Trainer run),
``checkpointing`` (complete checkpoints, resume, SIGTERM), ``evaluation`` (eval loss and
answer accuracy), ``publishing`` (manifest and model-store publish), ``progress``
(progress lines and JSON metrics), ``job`` (the whole Job), ``cli`` (the entry point)
and ``testing`` (pytest fixtures other suites use). Nothing heavy is imported here.
"""

__version__ = "0.1.0"
