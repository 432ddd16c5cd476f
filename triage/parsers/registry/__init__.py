"""Registry hives: the parser (:mod:`.parser`: hive kind, transaction-log replay, dispatch), the cell
reader (:mod:`.hive`, :mod:`.cells`), and one module per artifact a hive holds (autostarts, ShimCache,
BAM, UserAssist, ShellBags, USB, NetworkList, MRUs, MUICache, TaskCache, accounts, Amcache...).
:mod:`.artifacts` says which artifact module reads which hive kind."""
