"""Pricing a sweep before it runs (`python -m benchmark plan`): memory and FLOPs counted on the meta device."""
