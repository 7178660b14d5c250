"""Accessibility basics checked in the browser (RGAA / WCAG 2.1 AA), for every page's tests:

    from tests.web.a11y import assert_accessible
    page.goto(site.url + "/observatoire/projets"); assert_accessible(page)

It checks what a machine can: the page's language, one h1, a title, a name for every form
field, image, SVG, link and button, captions and header cells in data tables, unique ids,
error summaries pointing at existing fields. Contrast and reading order stay a person's review.
"""

from __future__ import annotations

from typing import Any

_PROBLEMS = r"""
() => {
  const problems = [];
  const describe = (el) => el.outerHTML.slice(0, 160);
  const text = (el) => (el.textContent || "").replace(/\s+/g, " ").trim();
  const named = (el) => {
    if ((el.getAttribute("aria-label") || "").trim()) return true;
    const by = el.getAttribute("aria-labelledby");
    if (by && by.split(/\s+/).some((id) => { const t = document.getElementById(id); return t && text(t); })) return true;
    if ((el.getAttribute("title") || "").trim()) return true;
    return false;
  };
  const lang = document.documentElement.getAttribute("lang") || "";
  if (!/^[a-z]{2}(-[A-Z]{2})?$/.test(lang)) problems.push(`<html> has no valid lang attribute (${lang || "none"})`);
  if (!document.title.trim()) problems.push("the page has no <title>");
  const h1 = document.querySelectorAll("h1");
  if (h1.length !== 1) problems.push(`the page has ${h1.length} h1 elements, not one`);
  for (const field of document.querySelectorAll("input, select, textarea")) {
    const type = (field.getAttribute("type") || "").toLowerCase();
    if (["hidden", "submit", "button", "reset", "image"].includes(type)) continue;
    const labelled = (field.labels && [...field.labels].some((l) => text(l))) || named(field);
    if (!labelled) problems.push(`form field without a label: ${describe(field)}`);
  }
  for (const img of document.querySelectorAll("img")) {
    if (!img.hasAttribute("alt")) problems.push(`image without alt: ${describe(img)}`);
  }
  for (const svg of document.querySelectorAll("svg")) {
    if (svg.closest("[aria-hidden=true]") || svg.getAttribute("aria-hidden") === "true") continue;
    if (svg.parentElement && svg.parentElement.closest("svg")) continue;
    const title = svg.querySelector(":scope > title");
    if (!named(svg) && !(title && text(title))) problems.push(`SVG without a name (aria-label or <title>): ${describe(svg)}`);
  }
  for (const el of document.querySelectorAll("a[href], button, [role=button]")) {
    if (el.closest("[aria-hidden=true]")) continue;
    const alt = [...el.querySelectorAll("img[alt]")].map((i) => i.alt).join("");
    const svgTitle = [...el.querySelectorAll("title")].map(text).join("");
    if (!text(el) && !alt && !svgTitle && !named(el)) problems.push(`link or button without a name: ${describe(el)}`);
  }
  for (const table of document.querySelectorAll("table")) {
    if (table.getAttribute("role") === "presentation") continue;
    if (!table.querySelector("caption") || !text(table.querySelector("caption")))
      problems.push(`data table without a caption: ${describe(table)}`);
    if (!table.querySelector("th")) problems.push(`data table without header cells: ${describe(table)}`);
  }
  const ids = new Map();
  for (const el of document.querySelectorAll("[id]")) ids.set(el.id, (ids.get(el.id) || 0) + 1);
  for (const [id, count] of ids) if (count > 1) problems.push(`id "${id}" is used ${count} times`);
  for (const link of document.querySelectorAll(".error-summary a[href^='#']")) {
    if (!document.getElementById(decodeURIComponent(link.getAttribute("href").slice(1))))
      problems.push(`error summary links to a missing field: ${describe(link)}`);
  }
  const skip = document.querySelector("a[href='#contenu']");
  if (!skip || !document.getElementById("contenu")) problems.push("no skip link to #contenu");
  return problems;
}
"""


def accessibility_problems(page: Any) -> list[str]:
    """What the page's current document breaks of the basics above (empty: nothing)."""
    return page.evaluate(_PROBLEMS)


def assert_accessible(page: Any) -> None:
    problems = accessibility_problems(page)
    assert not problems, f"{page.url}:\n- " + "\n- ".join(problems)
