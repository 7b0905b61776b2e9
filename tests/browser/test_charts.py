"""The pages' charts (static/charts.js over uPlot, served from node_modules): drawn with
axes, crisp at the screen's pixel ratio, naming the value under the pointer, on a
phone and on a desktop."""

from __future__ import annotations

import re

import pytest
from playwright.async_api import Browser, Page, expect

from couponchain.runtime import Runtime
from tests.browser.screenshots import SHOTS

#: Whether the canvas holds drawn (non-transparent) pixels in a band of its CSS box:
#: the axes' labels sit in the gutters outside the plot area.
INKED = """(canvas, band) => {
  const ratio = canvas.width / canvas.getBoundingClientRect().width;
  const [x, y, w, h] = band.map((v) => Math.max(0, Math.floor(v * ratio)));
  const data = canvas.getContext("2d").getImageData(x, y, Math.max(1, w), Math.max(1, h)).data;
  return data.some((v, i) => i % 4 === 3 && v > 0);
}"""


async def _plot_and_gutters(page: Page, chart: str) -> dict[str, float]:
    """The plot area's box relative to the chart's canvas, and the canvas's size (CSS px)."""
    box = await page.locator(chart).evaluate("""(c) => {
      const over = c.parentElement.querySelector(".u-over").getBoundingClientRect();
      const all = c.getBoundingClientRect();
      return { left: over.left - all.left, top: over.top - all.top, width: over.width,
               height: over.height, canvasWidth: all.width, canvasHeight: all.height,
               ratio: c.width / all.width };
    }""")
    return {k: float(v) for k, v in box.items()}


@pytest.mark.parametrize(("width", "lang"), [(390, "en"), (1280, "en"), (390, "zh-CN")])
async def test_the_status_chart_has_axes_and_names_the_value_hovered(
    site: tuple[str, Runtime], browser: Browser, width: int, lang: str
) -> None:
    url, _ = site
    page = await browser.new_page(viewport={"width": width, "height": 844},
                                  device_scale_factor=2)
    await page.goto(f"{url}/status?lang={lang}")
    chart = "#head-chart"
    # The page polls the health answer every 2 s: a line needs two points.
    await expect(page.locator(chart)).to_have_attribute("data-points", re.compile(r"^[2-9]"))
    box = await _plot_and_gutters(page, chart)
    # Crisp: the canvas has one pixel per device pixel (uPlot follows devicePixelRatio).
    assert box["ratio"] == pytest.approx(2, abs=0.01)
    # The chart fits the phone's column, and leaves room for its axes.
    assert box["canvasWidth"] <= width
    assert box["left"] >= 20, "no room for the y axis"
    bottom = box["canvasHeight"] - box["top"] - box["height"]
    assert bottom >= 20, "no room for the time axis"
    y_axis = [0, box["top"], box["left"], box["height"]]
    x_axis = [box["left"], box["top"] + box["height"], box["width"], bottom]
    canvas = page.locator(chart)
    assert await canvas.evaluate(INKED, y_axis), "the y axis has no labels"
    assert await canvas.evaluate(INKED, x_axis), "the time axis has no labels"
    # Nothing is hovered yet; the pointer over the plot names the head and its time.
    value = page.locator(".u-legend .u-series").nth(1).locator(".u-value")
    over = page.locator(".u-over")
    await over.hover(position={"x": box["width"] - 2, "y": box["height"] / 2})
    await expect(value).to_have_text(re.compile(r"^\d[\d,]*$"))
    when = page.locator(".u-legend .u-series").first.locator(".u-value")
    await expect(when).to_have_text(re.compile(r"\d{1,2}:\d{2}"))
    assert await page.evaluate("document.documentElement.scrollWidth") <= width
    SHOTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(SHOTS / f"chart-status-{width}-{lang}.png"), full_page=True)
    await page.close()
