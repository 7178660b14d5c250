"""The national observatory of smart-territory projects (issue 4).

Its first brick is the registry of French territories (``registry``): every current commune,
EPCI, département and région with codes, SIREN, population and membership, shipped offline
in the package. Population bands live in ``bands``, shape checks of codes in ``codes``.
"""
