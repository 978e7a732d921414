"""Where ``bbadj serve`` listens and how long it waits for an image: its settings, apart from the
snapping ones (``file.SnapSettings``), in a module that imports no model code, so the command
line shows their defaults without loading torch."""

from __future__ import annotations

from dataclasses import dataclass

from ..util.errors import ConfigError


@dataclass(frozen=True)
class ServeSettings:
    host: str = "127.0.0.1"  # Label Studio on this machine; 0.0.0.0 for one elsewhere (no authentication)
    port: int = 9090  # label-studio-ml's default, the URL Label Studio's docs show
    label_studio_url: str | None = None  # default: LABEL_STUDIO_URL, else what /setup says
    fetch_timeout_s: float = 30.0  # for one image

    def __post_init__(self):
        if not 0 <= self.port <= 65535:
            raise ConfigError(f"port must be 0 to 65535, got {self.port}")
        if not self.fetch_timeout_s > 0:
            raise ConfigError(f"fetch_timeout_s must be > 0 seconds, got {self.fetch_timeout_s}")
