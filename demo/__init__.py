"""The emoji-voting demo (its own distribution, meshpipe-demo): web, emoji, voting and vote-bot,
and `meshctl demo`, which runs them behind meshproxy sidecars and checks the story."""
