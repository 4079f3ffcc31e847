"""An MCP server that misbehaves in every way the client must survive, for bedrock-chat's tests.

Written with the official Python SDK (PyPI `mcp`, 2.x: `mcp.server.mcpserver.MCPServer`).
Run on stdio (the default) or streamable HTTP: `python3 hostile_server.py [http PORT]`.

Tools: `files.read` (a dotted name), `search` (a name other servers use too), `fail` (an error
result), `hang` (never answers), `crash` (the process exits mid-call), `huge` (5 MB of text),
`env` (the names of the environment variables it was given), `picture` (a PNG), `grow` (adds a
tool and says the list changed), `write_note` (not read-only) and `count` (how many calls this
process has answered, to tell a restarted server from the first).
"""

import asyncio
import base64
import os
import sys

from mcp.server.mcpserver import Context, MCPServer
from mcp.types import ImageContent, ToolAnnotations

server = MCPServer(name="hostile")
calls = {"n": 0}

# A 1x1 PNG.
PIXEL = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg=="
)

READ_ONLY = ToolAnnotations(read_only_hint=True)


def counted():
    calls["n"] += 1


@server.tool(name="files.read", description="Reads a file by name.", annotations=READ_ONLY)
def files_read(name: str) -> str:
    counted()
    return f"the contents of {name}"


@server.tool(description="Searches the hostile index.", annotations=READ_ONLY)
def search(query: str) -> str:
    counted()
    return f"hostile results for {query}"


@server.tool(description="Always fails.", annotations=READ_ONLY)
def fail() -> str:
    counted()
    raise ValueError("the disk is on fire")


@server.tool(description="Never answers.", annotations=READ_ONLY)
async def hang() -> str:
    counted()
    # Tells a test that the call is under way (a condition to wait for, not a guess).
    marker = os.environ.get("HOSTILE_HANG_MARKER")
    if marker:
        open(marker, "w").close()
    await asyncio.sleep(3600)
    return "too late"


@server.tool(description="Ends the server's process mid-call.", annotations=READ_ONLY)
def crash() -> str:
    counted()
    sys.stdout.flush()
    os._exit(3)


@server.tool(description="Returns 5 MB of text.", annotations=READ_ONLY)
def huge() -> str:
    counted()
    return "x" * 5_000_000


@server.tool(description="The names of the environment variables this server has.", annotations=READ_ONLY)
def env() -> str:
    counted()
    return ",".join(sorted(os.environ))


@server.tool(description="A picture.", annotations=READ_ONLY)
def picture() -> ImageContent:
    counted()
    return ImageContent(type="image", data=base64.b64encode(PIXEL).decode(), mime_type="image/png")


@server.tool(description="Adds the tool `grown` and says the tool list changed.", annotations=READ_ONLY)
async def grow(ctx: Context) -> str:
    counted()

    def grown() -> str:
        return "I grew"

    server.add_tool(grown, name="grown", description="Added at run time.")
    # To `subscriptions/listen` subscribers (protocol 2026-07-28), and to every client of an
    # earlier version, which hears it unasked.
    await ctx.notify_tools_changed()
    await ctx.session.send_tool_list_changed()
    return "grown"


@server.tool(description="Writes a note (changes things: not read-only).")
def write_note(text: str) -> str:
    counted()
    return f"noted: {text}"


@server.tool(description="How many calls this process has answered.", annotations=READ_ONLY)
def count() -> str:
    counted()
    return str(calls["n"])


if __name__ == "__main__":
    if len(sys.argv) >= 3 and sys.argv[1] == "http":
        import uvicorn

        app = server.streamable_http_app()
        uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[2]), log_level="warning")
    else:
        server.run()
