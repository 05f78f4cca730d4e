"""The demo website (aiohttp): the page that embeds the chat, the action-plan page and the demo phone."""
