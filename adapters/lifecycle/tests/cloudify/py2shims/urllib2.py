"""Python 2's ``urllib2`` names, for running plugins written for Python 2 unchanged."""

from urllib.error import HTTPError, URLError
from urllib.request import Request, build_opener, urlopen

__all__ = ["HTTPError", "Request", "URLError", "build_opener", "urlopen"]
