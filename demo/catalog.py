"""The emoji catalogue the demo apps share, and which entries the old endpoint breaks on."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Emoji:
    shortcode: str  # e.g. ":joy:"
    unicode: str


EMOJIS: tuple[Emoji, ...] = tuple(
    Emoji(shortcode, symbol)
    for shortcode, symbol in (
        (":joy:", "😂"),
        (":sunglasses:", "😎"),
        (":doughnut:", "🍩"),
        (":stuck_out_tongue_winking_eye:", "😜"),
        (":money_mouth_face:", "🤑"),
        (":flushed:", "😳"),
        (":mask:", "😷"),
        (":nerd_face:", "🤓"),
        (":ghost:", "👻"),
        (":skull_and_crossbones:", "☠️"),
        (":heart_eyes_cat:", "😻"),
        (":hear_no_evil:", "🙈"),
        (":see_no_evil:", "🙉"),
        (":speak_no_evil:", "🙊"),
        (":boy:", "👦"),
        (":girl:", "👧"),
        (":man:", "👨"),
        (":woman:", "👩"),
        (":older_man:", "👴"),
        (":policeman:", "👮"),
        (":guardsman:", "💂"),
        (":construction_worker:", "👷"),
        (":santa:", "🎅"),
        (":unicorn:", "🦄"),
    )
)

# The old HTTP/1 endpoint was never updated past the first half of the list: the bug of the story.
BROKEN_FROM = len(EMOJIS) // 2


def find(shortcode: str) -> Emoji | None:
    """The emoji with that shortcode, or None."""
    return next((e for e in EMOJIS if e.shortcode == shortcode), None)


def old_endpoint_breaks_on(shortcode: str) -> bool:
    """Whether the legacy HTTP/1 lookup answers 500 for shortcode (the lower part of the list)."""
    return any(e.shortcode == shortcode for e in EMOJIS[BROKEN_FROM:])
