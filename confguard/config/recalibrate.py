"""A guard config's policy to calibrate, and the config written back with the result.

`confguard calibrate --config FILE|PRESET` starts from the policy a guard config (or a
shipped preset) carries and writes the whole config back with its `policy:` replaced,
so `Guard.from_config`, `confguard eval --config` and `confguard demo --config` use
the calibrated policy with the same signals, pipeline, routes and store. The config
is written from its text as read, before environment variables were substituted:
a secret stays `${NAME}`, never its value.
"""

from __future__ import annotations

import os
from typing import Any

from confguard.config.build import config_policy
from confguard.config.load import LoadedConfig, load
from confguard.policy import Policy, _yaml


def policy_to_calibrate(path: str | os.PathLike[str]) -> tuple[Policy, LoadedConfig]:
    """The policy of the config at `path` (a file or a preset's name), and the
    config; refused (`ConfigurationError`, located) when the config overrides the
    policy's combiner or calibrator, since the policy alone is then not what the
    guard scores with.

    Example:
        >>> policy, loaded = policy_to_calibrate("fast")
        >>> policy.strata[0].name
        'retrieved'
    """
    loaded = load(path)
    for kind in ("combiner", "calibrator"):
        if getattr(loaded.config, kind) is not None:
            raise loaded.error(
                (kind,),
                f"overrides the policy's {kind}, so the policy alone is not what "
                f"the guard scores with: move it into policy.{kind} to calibrate",
            )
    return config_policy(loaded), loaded


def with_policy(loaded: LoadedConfig, policy: Policy, header: str) -> str:
    """The config's YAML as written, with `policy:` replaced, under `header` (a
    comment, one line per line of it).

    Example:
        >>> text = with_policy(loaded, done.policy, "calibrated on 400 labels")
    """
    data: dict[str, Any] = dict(loaded.document.data)
    data["policy"] = policy.to_dict()
    comment = "".join(f"# {line}\n" for line in header.splitlines())
    return comment + _yaml.dump(data)


__all__ = ["policy_to_calibrate", "with_policy"]
