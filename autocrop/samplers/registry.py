"""Sampler registry: one decorated factory per strategy, carrying its optional hooks.

    @register_sampler("mine", help="what it does")
    def _mine(seed: int, context: dict) -> optuna.samplers.BaseSampler: ...

Hooks: `context(cfg, data, space) -> dict` computes what the factory needs beyond its seed
(e.g. crop targets from the query's region); `propose(data, space) -> [(params, user_attrs)]`
lists trials the search enqueues before the sampler takes over. The CLI's help, config
validation, the space file's check and the search all read this registry.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from autocrop.errors import ConfigError

__all__ = ["SamplerDef", "SAMPLERS", "register_sampler", "get_sampler", "check_sampler", "make_sampler", "sampler_names"]

Factory = Callable[[int, dict[str, Any]], Any]  # (seed, context) -> optuna.samplers.BaseSampler


@dataclass(frozen=True)
class SamplerDef:
    name: str
    factory: Factory
    help: str = ""
    context: Callable[[Any, Any, Any], dict[str, Any]] | None = None  # (cfg, data, space) -> context
    propose: Callable[[Any, Any], list[tuple[dict[str, Any], dict[str, Any]]]] | None = None  # (data, space) -> trials


SAMPLERS: dict[str, SamplerDef] = {}


def register_sampler(name: str, *, help: str = "", context: Callable | None = None, propose: Callable | None = None) -> Callable[[Factory], Factory]:
    """Decorator adding a sampler factory; a second sampler of the same name is an error."""

    def add(factory: Factory) -> Factory:
        if name in SAMPLERS:
            raise ValueError(f"sampler `{name}` is already registered by {SAMPLERS[name].factory.__qualname__}")
        SAMPLERS[name] = SamplerDef(name, factory, help or (factory.__doc__ or "").strip().split("\n")[0], context, propose)
        return factory

    return add


def sampler_names() -> list[str]:
    return list(SAMPLERS)


def check_sampler(name: str, where: str = "") -> SamplerDef:
    if name not in SAMPLERS:
        import difflib

        close = difflib.get_close_matches(name, SAMPLERS, n=1)
        hint = f"did you mean `{close[0]}`? " if close else ""
        raise ConfigError(f"{where + ': ' if where else ''}unknown sampler `{name}`; {hint}choose one of: {', '.join(SAMPLERS)}")
    return SAMPLERS[name]


def get_sampler(name: str) -> SamplerDef:
    return check_sampler(name)


def make_sampler(name: str, seed: int, context: dict[str, Any] | None = None) -> Any:
    return check_sampler(name).factory(seed, context or {})
