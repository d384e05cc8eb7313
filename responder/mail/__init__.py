"""Email core: MIME parsing, quote stripping, the auto-reply guard and reply composition.

Nothing is re-exported here so that importing one submodule stays cheap.
"""
