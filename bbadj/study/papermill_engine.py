"""The papermill engine the study's stages run their notebooks with (``papermill ... --engine bbadj``).

papermill's own engine (nbclient), with the kernel's connection encrypted. jupyter_client starts
a kernel on TCP (localhost) in plain text unless ``KernelManager.transport_encryption`` asks it
to hand the kernel CurveZMQ keys, and papermill, which reads no Jupyter config file, never sets
it: so ipykernel warned "Kernel is running over TCP without encryption" at every stage. This
engine asks for the keys ("auto": for kernels whose kernelspec declares ``supported_encryption:
curve``, as ipykernel's does); the notebook, its outputs and papermill's options are unchanged.
Registered under the entry point group ``papermill.engine`` in pyproject.toml; importing
``papermill.engines`` loads it, so import that first (as papermill's CLI does): importing this
module first would have papermill load it again half-initialised.
"""
from __future__ import annotations

import zmq
from jupyter_client.manager import KernelManager
from papermill.engines import NBClientEngine
from traitlets.config import Config


def kernel_config(config: Config | dict | None = None) -> Config:
    """``config`` with ``KernelManager.transport_encryption = "auto"`` unless it sets one, where
    jupyter_client has the option (8.10 on) and pyzmq has CurveZMQ (its wheels do)."""
    config = Config(config or {})
    if ("transport_encryption" in KernelManager.class_trait_names() and zmq.has("curve")
            and "transport_encryption" not in config.KernelManager):
        config.KernelManager.transport_encryption = "auto"
    return config


class BbadjEngine(NBClientEngine):
    """:class:`papermill.engines.NBClientEngine` whose kernel manager gets :func:`kernel_config`."""

    @classmethod
    def execute_managed_notebook(cls, nb_man, kernel_name, **kwargs):
        kwargs["config"] = kernel_config(kwargs.get("config"))
        return super().execute_managed_notebook(nb_man, kernel_name, **kwargs)
