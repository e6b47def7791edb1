"""Chamberlain as an MCP server: its governed tools for any MCP client (``chamberlain mcp serve``)."""
