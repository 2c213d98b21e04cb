"""Routing: which targets a request may go to, in which order. Pure: no I/O, no httpx, no providers."""
