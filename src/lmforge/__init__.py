"""lmforge: learn LLMs from scratch, and use what you build.

The package follows the data flow of the roadmap:
text -> tokenizers -> data -> models -> objectives/tasks -> train -> infer -> serve.
"""

__version__ = "0.1.0"
