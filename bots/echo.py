"""The ten-line bot: ``!echo TEXT`` answers TEXT."""

from bots import Bot, Context, command


class EchoBot(Bot):
    @command("echo")
    async def echo(self, ctx: Context, *, text: str) -> None:
        """Say TEXT back to you."""
        await ctx.reply(text)
