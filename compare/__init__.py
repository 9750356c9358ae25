"""compare: everything that uses both twins. The only package that imports both."""

__version__ = "0.4.0"     # the package's version, here alone: pyproject.toml and --version read it
