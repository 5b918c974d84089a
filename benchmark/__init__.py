"""landscape-bench: does the shape of a loss landscape predict how good a network is?"""

__version__ = "0.1.0"
