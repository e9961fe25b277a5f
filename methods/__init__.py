"""Method registry. Importing this package registers every method (one module each)."""
from . import adi, cmi, frami, kd, supervised  # noqa: F401  (registration side effects)
from .base import CellContext, Method, MethodResult, SynthesizedSamples
from .overrides import ConfigKeyError
from .registry import METHODS, build_method, method_config, method_configs

# The order of Table 2 then Table 3; `--methods all` runs these.
TABLE_ORDER = ["teacher", "student", "kd", "adi", "cmi", "frami", "frami-no-finv", "frami-no-reused",
               "frami-no-finv-no-reused"]

__all__ = ["METHODS", "TABLE_ORDER", "CellContext", "ConfigKeyError", "Method", "MethodResult", "SynthesizedSamples",
           "build_method", "method_config", "method_configs"]
