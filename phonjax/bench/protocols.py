"""Named, versioned benchmark protocols: every setting that changes a number.

``loew2024`` follows the paper's text (20³ Monkhorst–Pack mesh, Γ acoustic
tolerance 50 K for the three modes of smallest |ν| at Γ, q-points truly
commensurate with the supercell, diagonal displacements allowed). ``hyllios``
follows the published code (hyllios/utils benchmark_ph): phonopy's default mesh
from a length of 100 Å (Γ-centred), the three *lowest* modes at Γ excused down
to −35 K, ``get_commensurate_points(supercell_matrix)`` and ``is_diagonal=False``,
THz→K 47.992. ``acoustic_modes`` is the Γ rule ("smallest" |ν| or "lowest" ν,
see ``phonjax.harmonic.stability``); the bench stores the verdict under both rules with
every result. A protocol's ``key`` names it in the store; overrides change the
key so results of different settings never mix (hyllios@v1 rows were computed
with the "smallest" rule; v2 uses the published code's; v3 excludes the Γ
acoustic modes from F, S, Cv, ``phonjax.harmonic.thermal.GAMMA_ACOUSTIC_RULE``, which
v2 counted by the sign of their round-off). A loew2024 override whose mesh
contains Γ carries the rule in its key too, so rows of the old rule are recomputed.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, fields, replace

from phonjax import options
from phonjax.harmonic.mesh import crystal_mesh_from_length
from phonjax.pipeline.settings import RELAX_FIELDS, RelaxSettings
from phonjax.units import THZ_TO_K


@dataclass(frozen=True)
class Protocol:
    """Every setting of a benchmark run, flat: the fields are the store key and the stored JSON.

    Made of the shared records: ``relax_settings`` (``phonjax.pipeline.settings.RelaxSettings``,
    which checks the five relaxation fields on construction) and ``settings``
    (``phonjax.PhononSettings``). ``resolve`` checks every field, each with one check
    (``_CHECKS``, ``_CHOICES``; the relaxation's are RelaxSettings').
    """

    name: str
    version: int
    mesh: tuple[int, int, int] | None = (20, 20, 20)  # None: from mesh_length_A
    mesh_length_A: float | None = None  # phonopy's run_mesh(length): Γ-centred length2mesh
    gamma_centered: bool = False
    gamma_acoustic_tolerance_K: float = 50.0
    acoustic_modes: str = "smallest"  # which three Γ modes are excused: smallest |ν| or lowest ν
    commensurate: str = "primitive"
    is_diagonal: bool = True
    thz_to_k: float = THZ_TO_K
    distance_A: float = 0.01
    # True, the paper's choice: each displaced supercell's mean force is removed first
    # (PhononSettings and the workflow's settings default to False, phonopy's)
    subtract_drift: bool = True
    temperature_K: float = 300.0
    relax: bool = True
    # relax_settings: declared (meaning, default) and checked by RelaxSettings
    fmax_eV_A: float = RelaxSettings.fmax_eV_A
    relax_rounds: int = RelaxSettings.relax_rounds
    relax_steps: int = RelaxSettings.relax_steps
    fix_symmetry: bool = RelaxSettings.fix_symmetry
    max_force_eV_A: float = RelaxSettings.max_force_eV_A
    # "finite_displacement" (the protocol's forces on displaced supercells) or "hessian"
    # (Hessian-vector products of a JAX-native model's energy, phonjax.harmonic.hessian)
    force_constants: str = "finite_displacement"

    def __post_init__(self):  # the relaxation fields as RelaxSettings checks them
        relax = self.relax_settings
        for name in RELAX_FIELDS:
            object.__setattr__(self, name, getattr(relax, name))

    @property
    def overrides(self) -> dict:
        base = asdict(PRESETS[self.name]) if self.name in PRESETS else {}
        return {k: v for k, v in asdict(self).items() if base.get(k) != v}

    @property
    def mesh_has_gamma(self) -> bool:
        """Whether the protocol's mesh contains Γ (Γ-centred, from a length, or an odd axis)."""
        return (self.gamma_centered or self.mesh is None
                or any(int(n) % 2 == 1 for n in self.mesh))

    @property
    def key(self) -> str:
        """Store key: ``name@vN``, plus a short hash of any overrides."""
        key = f"{self.name}@v{self.version}"
        extra = self.overrides
        if extra and self.mesh_has_gamma:
            extra = {**extra, "gamma_acoustic_thermal": "excluded"}
        if extra:
            digest = hashlib.sha1(json.dumps(extra, sort_keys=True, default=str).encode())
            key += "+" + digest.hexdigest()[:8]
        return key

    @property
    def settings(self):
        """The protocol's physics as ``phonjax.PhononSettings``."""
        from phonjax.harmonic.properties import PhononSettings

        return PhononSettings(temperatures_K=(self.temperature_K,),
                              subtract_drift=self.subtract_drift,
                              gamma_acoustic_tolerance_K=self.gamma_acoustic_tolerance_K,
                              acoustic_modes=self.acoustic_modes, thz_to_k=self.thz_to_k)

    @property
    def relax_settings(self) -> RelaxSettings:
        """The protocol's relaxation, what ``phonjax.pipeline.relax`` takes."""
        return RelaxSettings(**{name: getattr(self, name) for name in RELAX_FIELDS})

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)


PRESETS: dict[str, Protocol] = {
    "loew2024": Protocol(name="loew2024", version=1),
    "hyllios": Protocol(name="hyllios", version=3, mesh=None, mesh_length_A=100.0,
                        gamma_centered=True, gamma_acoustic_tolerance_K=35.0,
                        acoustic_modes="lowest", commensurate="supercell_matrix",
                        is_diagonal=False, thz_to_k=47.992),
}
DEFAULT_PROTOCOL = "loew2024"


# the checks of phonjax.options, per setting (None allowed where the field says so); the
# relaxation's are RelaxSettings' own
_CHECKS = {"temperature_K": options.non_negative, "gamma_acoustic_tolerance_K": options.non_negative,
           "thz_to_k": options.positive, "mesh_length_A": options.positive,
           "distance_A": options.displacement_distance,
           **dict.fromkeys(RELAX_FIELDS, RelaxSettings.check)}
_CHOICES = {"commensurate": ("primitive", "supercell_matrix"),
            "acoustic_modes": ("smallest", "lowest"),
            "force_constants": ("finite_displacement", "hessian")}


def _coerce(name: str, value):
    """A setting from a command-line string (or a value) in the field's type, checked:
    ``SettingError`` names the setting when the value makes no sense."""
    kind = str({f.name: f.type for f in fields(Protocol)}[name])
    if isinstance(value, str) and "None" in kind and value.lower() in ("none", "length"):
        return None
    if value is None or name == "name":
        return value
    if name == "mesh":
        return mesh_setting(value)
    if name in _CHECKS:
        return _CHECKS[name](name, value)
    if name in _CHOICES:
        if value not in _CHOICES[name]:
            raise options.SettingError(f"{name} must be one of {', '.join(_CHOICES[name])}, "
                                       f"got {value!r}")
        return value
    if "bool" in kind:
        if isinstance(value, str):
            if value.lower() in ("1", "true", "yes", "on"):
                return True
            if value.lower() in ("0", "false", "no", "off"):
                return False
            raise options.SettingError(f"{name} must be true or false, got {value!r}")
        return bool(value)
    return value


def mesh_setting(value) -> tuple[int, int, int]:
    """A benchmark's ``mesh`` setting: N, N1xN2xN3 or N1,N2,N3 text, or three numbers
    (``options.mesh_numbers``: 2.5 or True refused, never truncated)."""
    if isinstance(value, str):
        parts = value.replace("x", " ").replace(",", " ").split()
        parts = parts * 3 if len(parts) == 1 else parts
    else:
        parts = list(value)
    if len(parts) != 3:
        raise options.SettingError(f"mesh must be N or N1xN2xN3, got {value!r}")
    return options.mesh_numbers("mesh", parts)


def resolve(name: str = DEFAULT_PROTOCOL, overrides: dict | None = None) -> Protocol:
    """A preset with ``overrides`` ({field: value or string}) applied and checked."""
    if name not in PRESETS:
        raise ValueError(f"unknown protocol {name!r}; known: {', '.join(PRESETS)}")
    known = {f.name for f in fields(Protocol)} - {"name", "version"}
    changes = {}
    for k, v in (overrides or {}).items():
        k = k.replace("-", "_")
        if k not in known:
            raise ValueError(f"unknown protocol setting {k!r}; known: {', '.join(sorted(known))}")
        changes[k] = _coerce(k, v)
    p = replace(PRESETS[name], **changes)
    if p.mesh is None and p.mesh_length_A is None:
        raise options.SettingError("a protocol needs a mesh or a mesh_length_A")
    for f in fields(Protocol):  # every field, so a preset cannot hold nonsense either
        _coerce(f.name, getattr(p, f.name))
    return p


def mesh_for(protocol: Protocol, unitcell, primitive_matrix) -> tuple[int, int, int]:
    """The sampling mesh of one material under ``protocol``."""
    if protocol.mesh is not None:
        return tuple(protocol.mesh)
    return crystal_mesh_from_length(protocol.mesh_length_A, unitcell, primitive_matrix)
