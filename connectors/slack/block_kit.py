"""Block Kit validation as Slack does it, for the strict fake Web API.

Slack refuses a message whose blocks break its schema with ``invalid_blocks`` and one error per
problem, each ending in a JSON pointer to the offending value::

    {"ok": false, "error": "invalid_blocks",
     "errors": ["must be less than 3001 characters [json-pointer:/blocks/2/text/text]"]}

Covered: the block types and elements Chamberlain can send (section, header, divider, context,
actions, input, image, rich_text; button, plain_text_input, static_select, overflow, datepicker,
image), text objects, Slack's length limits, required fields, unique ``block_id`` per message and
unique ``action_id`` per block, and the 50-block (message) / 100-block (modal) ceilings.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

MAX_MESSAGE_BLOCKS = 50
MAX_MODAL_BLOCKS = 100
MAX_TEXT_CHARS = 40_000  # chat.postMessage ``text``: longer is msg_too_long

_TEXT_TYPES = ("plain_text", "mrkdwn")


class _Errors:
    def __init__(self) -> None:
        self.items: list[str] = []

    def add(self, message: str, path: str) -> None:
        self.items.append(f"{message} [json-pointer:{path}]")


def validate_blocks(blocks: Any, *, surface: str = "message", root: str = "/blocks") -> list[str]:
    """Slack's errors for ``blocks`` (empty when valid). ``surface``: "message" or "modal"."""
    errors = _Errors()
    if not isinstance(blocks, list):
        errors.add("must be an array", root)
        return errors.items
    limit = MAX_MODAL_BLOCKS if surface == "modal" else MAX_MESSAGE_BLOCKS
    if len(blocks) > limit:
        errors.add(f"no more than {limit} items allowed", root)
    seen_block_ids: set[str] = set()
    for i, block in enumerate(blocks):
        path = f"{root}/{i}"
        if not isinstance(block, dict):
            errors.add("must be an object", path)
            continue
        block_id = block.get("block_id")
        if block_id is not None:
            if not isinstance(block_id, str) or not 1 <= len(block_id) <= 255:
                errors.add("must be a string of 1 to 255 characters", f"{path}/block_id")
            elif block_id in seen_block_ids:
                errors.add("duplicate block_id", f"{path}/block_id")
            else:
                seen_block_ids.add(block_id)
        kind = block.get("type")
        check = _BLOCKS.get(kind) if isinstance(kind, str) else None
        if check is None:
            errors.add(f"unsupported type: {kind!r}", f"{path}/type")
            continue
        if kind == "input" and surface == "message":
            errors.add("input blocks are only allowed in modals and Home tabs", f"{path}/type")
            continue
        check(block, path, errors)
    return errors.items


def validate_view(view: Any) -> list[str]:
    """Slack's errors for a modal ``view`` (views.open / views.update)."""
    errors = _Errors()
    if not isinstance(view, dict):
        errors.add("must be an object", "/view")
        return errors.items
    if view.get("type") != "modal":
        errors.add("must be modal", "/view/type")
    _text(view.get("title"), "/view/title", errors, max_len=24, plain=True)
    for key in ("submit", "close"):
        if key in view:
            _text(view[key], f"/view/{key}", errors, max_len=24, plain=True)
    for key, max_len in (("private_metadata", 3000), ("callback_id", 255), ("external_id", 255)):
        value = view.get(key)
        if value is not None and (not isinstance(value, str) or len(value) > max_len):
            errors.add(f"must be a string of at most {max_len} characters", f"/view/{key}")
    blocks = view.get("blocks")
    errors.items.extend(validate_blocks(blocks, surface="modal", root="/view/blocks"))
    has_input = isinstance(blocks, list) and any(isinstance(b, dict) and b.get("type") == "input" for b in blocks)
    if has_input and "submit" not in view:
        errors.add("a modal with input blocks needs a submit button", "/view/submit")
    return errors.items


# ---------------------------------------------------------------- text objects


def _text(obj: Any, path: str, errors: _Errors, *, max_len: int, plain: bool = False) -> None:
    if not isinstance(obj, dict):
        errors.add("must be a text object", path)
        return
    kind = obj.get("type")
    if kind not in (("plain_text",) if plain else _TEXT_TYPES):
        errors.add("must be plain_text" if plain else "must be plain_text or mrkdwn", f"{path}/type")
        return
    text = obj.get("text")
    if not isinstance(text, str):
        errors.add("must be a string", f"{path}/text")
    elif not text:
        errors.add("must be more than 0 characters", f"{path}/text")
    elif len(text) > max_len:
        errors.add(f"must be less than {max_len + 1} characters", f"{path}/text")
    if kind == "mrkdwn" and "emoji" in obj:
        errors.add("emoji is only allowed on plain_text", f"{path}/emoji")
    if kind == "plain_text" and "verbatim" in obj:
        errors.add("verbatim is only allowed on mrkdwn", f"{path}/verbatim")
    _only(obj, {"type", "text", "emoji", "verbatim"}, path, errors)


def _only(obj: dict[str, Any], allowed: set[str], path: str, errors: _Errors) -> None:
    for key in obj:
        if key not in allowed:
            errors.add(f"unexpected field {key!r}", f"{path}/{key}")


def _string(obj: dict[str, Any], key: str, path: str, errors: _Errors, *, max_len: int, required: bool) -> None:
    value = obj.get(key)
    if value is None:
        if required:
            errors.add("is required", f"{path}/{key}")
        return
    if not isinstance(value, str) or not value or len(value) > max_len:
        errors.add(f"must be a string of 1 to {max_len} characters", f"{path}/{key}")


# ---------------------------------------------------------------- elements


def _button(el: dict[str, Any], path: str, errors: _Errors) -> None:
    _only(el, {"type", "text", "action_id", "url", "value", "style", "confirm", "accessibility_label"}, path, errors)
    _text(el.get("text"), f"{path}/text", errors, max_len=75, plain=True)
    _string(el, "value", path, errors, max_len=2000, required=False)
    _string(el, "url", path, errors, max_len=3000, required=False)
    if "style" in el and el["style"] not in ("primary", "danger"):
        errors.add("must be primary or danger", f"{path}/style")
    if "confirm" in el:
        _confirm(el["confirm"], f"{path}/confirm", errors)


def _confirm(obj: Any, path: str, errors: _Errors) -> None:
    if not isinstance(obj, dict):
        errors.add("must be a confirmation dialog object", path)
        return
    _text(obj.get("title"), f"{path}/title", errors, max_len=100, plain=True)
    _text(obj.get("text"), f"{path}/text", errors, max_len=300)
    _text(obj.get("confirm"), f"{path}/confirm", errors, max_len=30, plain=True)
    _text(obj.get("deny"), f"{path}/deny", errors, max_len=30, plain=True)


def _plain_text_input(el: dict[str, Any], path: str, errors: _Errors) -> None:
    allowed = {"type", "action_id", "placeholder", "initial_value", "multiline", "min_length", "max_length",
               "dispatch_action_config", "focus_on_load"}  # fmt: skip
    _only(el, allowed, path, errors)
    if "placeholder" in el:
        _text(el["placeholder"], f"{path}/placeholder", errors, max_len=150, plain=True)
    for key in ("min_length", "max_length"):
        value = el.get(key)
        if value is not None and (not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= 3000):
            errors.add("must be an integer from 0 to 3000", f"{path}/{key}")
    if "multiline" in el and not isinstance(el["multiline"], bool):
        errors.add("must be a boolean", f"{path}/multiline")


def _options(options: Any, path: str, errors: _Errors, *, max_items: int) -> None:
    if not isinstance(options, list) or not options:
        errors.add("must be a non-empty array", path)
        return
    if len(options) > max_items:
        errors.add(f"no more than {max_items} items allowed", path)
    for i, opt in enumerate(options):
        p = f"{path}/{i}"
        if not isinstance(opt, dict):
            errors.add("must be an option object", p)
            continue
        _text(opt.get("text"), f"{p}/text", errors, max_len=75)
        _string(opt, "value", p, errors, max_len=150, required=True)


def _static_select(el: dict[str, Any], path: str, errors: _Errors) -> None:
    if "placeholder" in el:
        _text(el["placeholder"], f"{path}/placeholder", errors, max_len=150, plain=True)
    _options(el.get("options"), f"{path}/options", errors, max_items=100)


def _overflow(el: dict[str, Any], path: str, errors: _Errors) -> None:
    _options(el.get("options"), f"{path}/options", errors, max_items=5)


def _datepicker(el: dict[str, Any], path: str, errors: _Errors) -> None:
    if "placeholder" in el:
        _text(el["placeholder"], f"{path}/placeholder", errors, max_len=150, plain=True)


def _image_element(el: dict[str, Any], path: str, errors: _Errors) -> None:
    _string(el, "image_url", path, errors, max_len=3000, required=True)
    _string(el, "alt_text", path, errors, max_len=2000, required=True)


_INTERACTIVE: dict[str, Callable[[dict[str, Any], str, _Errors], None]] = {
    "button": _button,
    "plain_text_input": _plain_text_input,
    "static_select": _static_select,
    "overflow": _overflow,
    "datepicker": _datepicker,
}


def _element(el: Any, path: str, errors: _Errors, allowed: tuple[str, ...], action_ids: set[str]) -> None:
    if not isinstance(el, dict):
        errors.add("must be an object", path)
        return
    kind = el.get("type")
    if kind not in allowed:
        errors.add(f"unsupported type: {kind!r} (allowed here: {', '.join(allowed)})", f"{path}/type")
        return
    if kind == "image":
        _image_element(el, path, errors)
        return
    action_id = el.get("action_id")
    if action_id is not None:
        if not isinstance(action_id, str) or not 1 <= len(action_id) <= 255:
            errors.add("must be a string of 1 to 255 characters", f"{path}/action_id")
        elif action_id in action_ids:
            errors.add("duplicate action_id", f"{path}/action_id")
        else:
            action_ids.add(action_id)
    _INTERACTIVE[str(kind)](el, path, errors)


# ---------------------------------------------------------------- blocks


def _section(block: dict[str, Any], path: str, errors: _Errors) -> None:
    _only(block, {"type", "block_id", "text", "fields", "accessory", "expand"}, path, errors)
    if "text" not in block and "fields" not in block:
        errors.add("must provide text or fields", path)
    if "text" in block:
        _text(block["text"], f"{path}/text", errors, max_len=3000)
    if "fields" in block:
        fields = block["fields"]
        if not isinstance(fields, list) or not fields or len(fields) > 10:
            errors.add("must be an array of 1 to 10 text objects", f"{path}/fields")
        else:
            for i, f in enumerate(fields):
                _text(f, f"{path}/fields/{i}", errors, max_len=2000)
    if "accessory" in block:
        allowed = ("button", "static_select", "overflow", "datepicker", "image")
        _element(block["accessory"], f"{path}/accessory", errors, allowed, set())


def _header(block: dict[str, Any], path: str, errors: _Errors) -> None:
    _only(block, {"type", "block_id", "text"}, path, errors)
    _text(block.get("text"), f"{path}/text", errors, max_len=150, plain=True)


def _divider(block: dict[str, Any], path: str, errors: _Errors) -> None:
    _only(block, {"type", "block_id"}, path, errors)


def _context(block: dict[str, Any], path: str, errors: _Errors) -> None:
    _only(block, {"type", "block_id", "elements"}, path, errors)
    elements = block.get("elements")
    if not isinstance(elements, list) or not elements or len(elements) > 10:
        errors.add("must be an array of 1 to 10 elements", f"{path}/elements")
        return
    for i, el in enumerate(elements):
        p = f"{path}/elements/{i}"
        if isinstance(el, dict) and el.get("type") == "image":
            _image_element(el, p, errors)
        else:
            _text(el, p, errors, max_len=3000)


def _actions(block: dict[str, Any], path: str, errors: _Errors) -> None:
    _only(block, {"type", "block_id", "elements"}, path, errors)
    elements = block.get("elements")
    if not isinstance(elements, list) or not elements or len(elements) > 25:
        errors.add("must be an array of 1 to 25 elements", f"{path}/elements")
        return
    ids: set[str] = set()
    for i, el in enumerate(elements):
        _element(el, f"{path}/elements/{i}", errors, ("button", "static_select", "overflow", "datepicker"), ids)


def _input(block: dict[str, Any], path: str, errors: _Errors) -> None:
    _only(block, {"type", "block_id", "label", "element", "hint", "optional", "dispatch_action"}, path, errors)
    _text(block.get("label"), f"{path}/label", errors, max_len=2000, plain=True)
    if "hint" in block:
        _text(block["hint"], f"{path}/hint", errors, max_len=2000, plain=True)
    if "optional" in block and not isinstance(block["optional"], bool):
        errors.add("must be a boolean", f"{path}/optional")
    if "element" not in block:
        errors.add("is required", f"{path}/element")
        return
    _element(block["element"], f"{path}/element", errors, ("plain_text_input", "static_select", "datepicker"), set())


def _image(block: dict[str, Any], path: str, errors: _Errors) -> None:
    _string(block, "image_url", path, errors, max_len=3000, required=True)
    _string(block, "alt_text", path, errors, max_len=2000, required=True)
    if "title" in block:
        _text(block["title"], f"{path}/title", errors, max_len=2000, plain=True)


def _rich_text(block: dict[str, Any], path: str, errors: _Errors) -> None:
    if not isinstance(block.get("elements"), list):
        errors.add("must be an array", f"{path}/elements")


_BLOCKS: dict[str, Callable[[dict[str, Any], str, _Errors], None]] = {
    "section": _section,
    "header": _header,
    "divider": _divider,
    "context": _context,
    "actions": _actions,
    "input": _input,
    "image": _image,
    "rich_text": _rich_text,
}


__all__ = ["MAX_MESSAGE_BLOCKS", "MAX_MODAL_BLOCKS", "MAX_TEXT_CHARS", "validate_blocks", "validate_view"]
