"""phonjax model adapters: uMLIP families behind one small protocol (see ``base``).

Installed as the package ``phonjax_adapters``; families are found through the
``phonjax.adapters`` entry-point group (see ``registry``). Importing this
package never imports torch or a model package, but it does switch the model
hubs to offline mode (``HF_HUB_OFFLINE=1`` ... unless already set), so that a
model package imported later fails at once on missing weights instead of
waiting on the network.
"""

from phonjax_adapters.base import (
    Adapter,
    Availability,
    Evaluation,
    ModelUnavailable,
    StructureResult,
    WeightsNotFound,
    go_offline,
)
from phonjax_adapters.registry import adapter_classes, get_adapter, models_table

go_offline()

__all__ = [
    "Adapter",
    "Availability",
    "Evaluation",
    "ModelUnavailable",
    "StructureResult",
    "WeightsNotFound",
    "adapter_classes",
    "get_adapter",
    "models_table",
]
