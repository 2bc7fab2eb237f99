"""Subcommands of ``deeprank-like``, one module per command.

Protocol: a module ``deeprank_like/cli_commands/<name>.py`` defines::

    from deeprank_like.cli import add_command

    def add_parser(subparsers):
        parser = add_command(
            subparsers, "<name>",
            help="one line for 'deeprank-like --help'",
            description="what it does",
            example="deeprank-like <name> ...",       # shown under 'example:' in --help
            func=run,
        )
        parser.add_argument(...)
        return parser

    def run(args) -> int | None:                      # exit status; None means 0
        ...                                           # import heavy dependencies here

Modules are discovered automatically (no registration list to edit). Raise
``deeprank_like.cli.fail("message")`` or any ``DeeprankLikeError``/``ValueError``/``OSError``
for a one-line error with exit status 2. Modules whose name starts with ``_`` are ignored.
"""
