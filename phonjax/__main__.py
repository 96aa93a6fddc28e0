from phonjax.cli import entry

entry()
