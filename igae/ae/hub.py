"""Hugging Face hub ids as the autoencoder stage meets them: the form a ``pretrained`` entry's ``hub_id`` must have
(checked before any job, without torch) and what the AE loader tries on the hub."""

from __future__ import annotations

import re

HUB_ID = re.compile(r"[A-Za-z0-9][\w.-]*/[\w.-]+")
"""A hub id: ``owner/name`` (e.g. ``ostris/vae-kl-f8-d16``)."""
