#!/usr/bin/env python3
"""Drives every AliStach MCP tool with the official Python SDK (`pip install mcp`).

Over Streamable HTTP (in the SDK's default mode, which discovers the stateless 2026-07-28
revision, and in its legacy `initialize` mode) and over stdio (`alistach-server mcp`). Checks the
tool list (order, titles, annotations, schemas), each tool's structured result and its text,
and that bad arguments come back as tool errors. Exits non-zero on the first failure.

    python3 xtask/mcp_client_check.py --url http://127.0.0.1:8000/mcp --key KEY \
        --stdio target/debug/alistach-server
"""

import argparse
import asyncio
import json
import os
import sys
import tempfile

from mcp import Client
from mcp.client.stdio import StdioServerParameters
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client

TOOLS = [
    "search_products",
    "get_product_details",
    "get_hot_products",
    "list_categories",
    "create_affiliate_links",
    "find_similar_products",
    "list_promotions",
    "get_promotion_products",
]


def fail(label, message):
    raise SystemExit(f"{label}: {message}")


def structured(label, tool, result):
    """The structured result of a successful call, checked against its text."""
    if result.is_error:
        fail(label, f"{tool} failed: {result.content}")
    data = result.structured_content
    if not isinstance(data, dict):
        fail(label, f"{tool} has no structuredContent")
    text = result.content[0].text
    if json.loads(text) != data:
        fail(label, f"{tool}: the text is not the structured JSON")
    return data


async def exercise(label, client, mock):
    listed = await client.list_tools()
    names = [t.name for t in listed.tools]
    if names != TOOLS:
        fail(label, f"tools are {names}")
    for tool in listed.tools:
        ann = tool.annotations
        if not tool.title or not tool.description or ann is None:
            fail(label, f"{tool.name} lacks a title, description or annotations")
        if ann.read_only_hint is not True or ann.open_world_hint is not True:
            fail(label, f"{tool.name} annotations: {ann}")
        if tool.input_schema.get("type") != "object" or not tool.output_schema:
            fail(label, f"{tool.name} schemas")

    search = structured(
        label,
        "search_products",
        await client.call_tool("search_products", {"keywords": "wireless earbuds", "page_size": 5}),
    )
    if search["mock_mode"] is not mock or ("notice" in search) is not mock:
        fail(label, f"mode: {search}")
    products = search["products"]
    if not products or "promotion_link" not in products[0]:
        fail(label, f"search: {search}")
    pid = products[0]["id"]

    details = structured(
        label,
        "get_product_details",
        await client.call_tool("get_product_details", {"urls": f"https://m.aliexpress.com/item/{pid}.html"}),
    )
    if details["products"][0]["id"] != pid:
        fail(label, f"details: {details}")

    hot = structured(label, "get_hot_products", await client.call_tool("get_hot_products", {"page_size": 3}))
    if not hot["products"]:
        fail(label, "no hot products")

    cats = structured(label, "list_categories", await client.call_tool("list_categories", {}))
    if len(cats["categories"]) < 3:
        fail(label, f"categories: {cats}")

    parent = next(c for c in cats["categories"] if c.get("children"))
    children = structured(label, "list_categories", await client.call_tool("list_categories", {"parent_id": parent["id"]}))
    if [c["id"] for c in children["categories"]] != [c["id"] for c in parent["children"]]:
        fail(label, f"parent_id filter: {children}")

    url = f"https://www.aliexpress.com/item/{pid}.html"
    links = structured(label, "create_affiliate_links", await client.call_tool("create_affiliate_links", {"urls": [url]}))
    if links["results"][0]["original_url"] != url or links["results"][0]["status"] != "converted":
        fail(label, f"links: {links}")

    similar = structured(label, "find_similar_products", await client.call_tool("find_similar_products", {"product_id": pid}))
    if not similar["products"]:
        fail(label, f"similar: {similar}")

    promotions = structured(label, "list_promotions", await client.call_tool("list_promotions", {}))
    name = promotions["promotions"][0]["promotion_name"]
    promoted = structured(
        label,
        "get_promotion_products",
        await client.call_tool("get_promotion_products", {"promotion_name": name, "page_size": 5}),
    )
    if not promoted["products"]:
        fail(label, f"promotion products: {promoted}")

    bad = await client.call_tool("search_products", {"keywords": "x", "page_size": 500})
    if not bad.is_error:
        fail(label, "a bad page_size is not a tool error")
    problem = json.loads(bad.content[0].text)
    if problem.get("errors", [{}])[0].get("field") != "page_size":
        fail(label, f"the tool error does not name page_size: {problem}")
    print(f"{label}: {len(TOOLS)} tools ok (protocol {client.session.protocol_version})")


async def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", help="the /mcp URL of a running server")
    parser.add_argument("--key", help="an API key (sent as Bearer)")
    parser.add_argument("--stdio", help="the alistach-server binary, run as `alistach-server mcp`")
    parser.add_argument("--real", action="store_true", help="the server is in real mode")
    args = parser.parse_args()
    if args.url:
        headers = {"Authorization": f"Bearer {args.key}"} if args.key else None
        for mode in ["auto", "legacy"]:
            async with create_mcp_http_client(headers=headers) as http:
                transport = streamable_http_client(args.url, http_client=http)
                async with Client(transport, mode=mode) as client:
                    await exercise("http" if mode == "auto" else "http-legacy", client, not args.real)
    if args.stdio:
        with tempfile.TemporaryDirectory(prefix="alistach-mcp-") as data_dir:
            params = StdioServerParameters(
                command=args.stdio,
                args=["mcp"],
                env={"PATH": os.environ.get("PATH", ""), "LOG_LEVEL": "warn", "DATA_DIR": data_dir},
            )
            async with Client(params, mode="legacy") as client:
                await exercise("stdio", client, True)


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except SystemExit:
        raise
    except BaseException as e:  # noqa: BLE001 - report any SDK failure plainly
        print(f"error: {e!r}", file=sys.stderr)
        sys.exit(1)
