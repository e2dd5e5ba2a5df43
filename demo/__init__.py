"""The emoji-voting demo: web, emoji, voting and vote-bot apps and `meshctl demo`'s runner."""
