"""Every binding this operator keeps: the due queue, the fleet of workers and the reconciler that
carries out plans."""

__all__: list[str] = []
