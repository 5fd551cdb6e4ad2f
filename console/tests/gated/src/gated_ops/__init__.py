"""Operations for the console's browser test: ``start`` waits until a gate file exists."""
