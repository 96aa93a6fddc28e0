"""phonjax model adapters: uMLIP families behind one small protocol (see ``base``).

Installed as the package ``phonjax_adapters``; families are found through the
``phonjax.adapters`` entry-point group (see ``registry``). Importing this
package imports neither torch nor a model package and changes no environment
variable: the hubs are switched offline only while a model loads (``weights``).
Missing weights download on first use unless ``PHONJAX_OFFLINE=1``.
"""

from phonjax_adapters.base import (
    Adapter,
    Availability,
    Evaluation,
    ModelUnavailable,
    StructureResult,
    WeightsNotFound,
)
from phonjax_adapters.registry import adapter_classes, get_adapter, models_table

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
