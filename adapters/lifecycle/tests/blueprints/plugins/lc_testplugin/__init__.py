"""Operations used by the lifecycle adapter's tests."""
