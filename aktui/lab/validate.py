"""DRF-like validation of the lab's writable fields: the 400 bodies authentik 2023.10.7 gives."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from aktui.lab.http import HTTPAnswer

TAKEN = "Application with this provider already exists."  # OneToOneField (recorded, 400)


def no_pk(pk: object) -> str:
    return f'Invalid pk "{pk}" - object does not exist.'


def expected(kind: str, value: object) -> str:
    return f'Expected a {kind} of items but got type "{type(value).__name__}".'


_CONFIG_TYPES: dict[str, tuple[type, ...]] = {
    "authentik_host": (str,), "authentik_host_insecure": (bool,), "authentik_host_browser": (str,),
    "log_level": (str,), "object_naming_template": (str,), "container_image": (str, type(None)),
    "docker_network": (str, type(None)), "docker_map_ports": (bool,),
    "docker_labels": (dict, type(None)), "kubernetes_replicas": (int,),
    "kubernetes_namespace": (str,), "kubernetes_ingress_annotations": (dict,),
    "kubernetes_ingress_secret_name": (str,), "kubernetes_ingress_class_name": (str, type(None)),
    "kubernetes_service_type": (str,), "kubernetes_disabled_components": (list,),
    "kubernetes_image_pull_secrets": (list,), "kubernetes_json_patches": (dict, type(None)),
    # 2025.x keys (ignored as extra keys by 2023.10's dacite, so checking them is harmless)
    "refresh_interval": (str,), "kubernetes_ingress_path_type": (str, type(None)),
    "kubernetes_httproute_annotations": (dict,), "kubernetes_httproute_parent_refs": (list,),
}  # fmt: skip


def config_errors(config: dict[str, Any]) -> str:
    """OutpostSerializer.validate_config(): dacite's from_dict(OutpostConfig, config); extra
    keys are ignored, wrong types refused."""
    for key, value in config.items():
        types = _CONFIG_TYPES.get(key)
        if types and not isinstance(value, types):
            return (f'Failed to validate config: wrong value type for field "{key}" - should be '
                    f'"{types[0].__name__}" instead of value "{value}" of type '
                    f'"{type(value).__name__}"')  # fmt: skip
    return ""


def strings(body: Any, names: tuple[str, ...]) -> dict[str, Any]:
    """DRF field validation for the writable fields the lab supports (others are ignored,
    as DRF ignores unknown and read-only keys)."""
    if not isinstance(body, dict):
        raise HTTPAnswer(
            400,
            {
                "non_field_errors": [
                    f"Invalid data. Expected a dictionary, but got {type(body).__name__}."
                ]
            },
        )
    errors: dict[str, list[str]] = {}
    out: dict[str, Any] = {}
    for key in names:
        if key in body:
            if not isinstance(body[key], str):
                errors[key] = ["Not a valid string."]
            else:
                out[key] = body[key]
    if errors:
        raise HTTPAnswer(400, errors)
    return out


def bools(body: dict[str, Any], names: tuple[str, ...]) -> dict[str, Any]:
    out = {}
    for key in names:
        if key in body:
            if not isinstance(body[key], bool):
                raise HTTPAnswer(400, {key: ["Must be a valid boolean."]})
            out[key] = body[key]
    return out


def url(value: str, key: str) -> None:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise HTTPAnswer(400, {key: ["Enter a valid URL."]})
