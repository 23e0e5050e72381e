/**
 * The documentation as a reader meets it on GitHub or in a terminal: every relative link and `#anchor` in
 * README.md and docs/*.md leads to a file and heading that exist (GitHub's heading-slug rules), every line of
 * a Markdown table fits a 110-column terminal (Prettier's printWidth), and the docs and headings that code,
 * workflows and stack files point readers to exist too.
 */
import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import * as path from "node:path";

const ROOT = path.resolve(__dirname, "..");
/** Prettier's printWidth (.prettierrc): the widest table line that reads in a terminal without wrapping. */
const MAX_TABLE_WIDTH = 110;

/** Blanks fenced code blocks (``` or ~~~, possibly indented in a list), keeping line numbers. */
function withoutFences(text: string): string {
  let fence: RegExpMatchArray | null = null;
  return text
    .split("\n")
    .map((line) => {
      if (fence) {
        const close = /^\s*(`{3,}|~{3,})\s*$/.exec(line);
        if (close && close[1][0] === fence[1][0] && close[1].length >= fence[1].length) {
          fence = null;
        }
        return "";
      }
      fence = /^\s*(`{3,}|~{3,})/.exec(line);
      return fence ? "" : line;
    })
    .join("\n");
}

/** Blanks inline code spans and HTML comments (which may span lines), keeping line numbers. */
function withoutCode(text: string): string {
  const blank = (match: string) => match.replace(/[^\n]/g, " ");
  return text.replace(/<!--[\s\S]*?-->/g, blank).replace(/(`+)(?!`)[\s\S]*?(?<!`)\1(?!`)/g, blank);
}

/** A heading's anchor as GitHub derives it (github-slugger on the heading's text). */
function slug(heading: string): string {
  const text = heading
    .replace(/!?\[([^\]]*)\]\([^)]*\)/g, "$1") // a link or image shows its text
    .replace(/<[^>]+>/g, "") // HTML tags show nothing
    .split(/(`+[^`]*`+)/) // emphasis underscores vanish, except inside code spans
    .map((part) =>
      part.startsWith("`") ? part : part.replace(/(^|[^\p{L}\p{N}])_+|_+(?=[^\p{L}\p{N}]|$)/gu, "$1"),
    )
    .join("");
  return text
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{M}\p{N}\p{Pc} -]/gu, "")
    .replace(/ /g, "-");
}

/** Every anchor a Markdown file offers, with GitHub's `-1`, `-2` suffixes for repeated headings. */
function anchors(markdown: string): Set<string> {
  const occurrences = new Map<string, number>();
  const out = new Set<string>();
  for (const match of withoutFences(markdown).matchAll(/^ {0,3}#{1,6}[ \t]+(.*?)(?:[ \t]+#+)?[ \t]*$/gm)) {
    const original = slug(match[1]);
    let candidate = original;
    while (occurrences.has(candidate)) {
      const n = (occurrences.get(original) ?? 0) + 1;
      occurrences.set(original, n);
      candidate = `${original}-${n}`;
    }
    occurrences.set(candidate, 0);
    out.add(candidate);
  }
  for (const match of markdown.matchAll(/<a\s+(?:id|name)="([^"]+)"/g)) {
    out.add(match[1]);
  }
  return out;
}

const lineOf = (text: string, index: number) => text.slice(0, index).split("\n").length;

/**
 * What is wrong with a set of Markdown files (repository-relative path -> text): relative links to files
 * that do not exist or lie outside the repository, anchors no heading produces, and table lines wider than
 * {@link MAX_TABLE_WIDTH}. `exists` answers for files outside the set.
 */
function checkMarkdown(files: Map<string, string>, exists: (file: string) => boolean): string[] {
  const problems: string[] = [];
  const anchorCache = new Map<string, Set<string>>();
  const anchorsOf = (file: string) => {
    if (!anchorCache.has(file)) {
      anchorCache.set(file, anchors(files.get(file) ?? readFileSync(path.join(ROOT, file), "utf8")));
    }
    return anchorCache.get(file)!;
  };
  for (const [file, text] of files) {
    const prose = withoutFences(text);
    const links = withoutCode(prose);
    const targets = [
      ...[...links.matchAll(/\]\(\s*(<[^>]*>|[^\s)]+)(?:\s+"[^"]*")?\s*\)/g)].map(
        (m) => [m[1], m.index] as const,
      ),
      ...[...links.matchAll(/^ {0,3}\[[^\]]+\]:\s*(\S+)/gm)].map((m) => [m[1], m.index] as const),
    ];
    for (const [raw, index] of targets) {
      const target = raw.replace(/^<|>$/g, "");
      if (/^([a-z][a-z0-9+.-]*:|\/\/)/i.test(target)) {
        continue; // https:, mailto: and the like: not this repository's
      }
      const at = `${file}:${lineOf(links, index)}`;
      const [rawPath, anchor] = target.split("#", 2);
      const linkPath = decodeURIComponent(rawPath);
      const resolved =
        linkPath === "" ? file : path.posix.normalize(path.posix.join(path.posix.dirname(file), linkPath));
      if (resolved.startsWith("../") || path.posix.isAbsolute(linkPath)) {
        problems.push(`${at}: ${target} points outside the repository`);
        continue;
      }
      const target_ = resolved.replace(/\/$/, "");
      if (!files.has(target_) && !exists(target_)) {
        problems.push(`${at}: ${target}: no such file ${target_}`);
        continue;
      }
      if (anchor !== undefined && target_.endsWith(".md") && !anchorsOf(target_).has(anchor)) {
        problems.push(`${at}: ${target}: ${target_} has no heading with the anchor #${anchor}`);
      }
    }
    prose.split("\n").forEach((line, i) => {
      const width = [...line].length;
      if (/^\s*\|/.test(line) && width > MAX_TABLE_WIDTH) {
        problems.push(`${file}:${i + 1}: table line of ${width} characters (at most ${MAX_TABLE_WIDTH})`);
      }
    });
  }
  return problems;
}

function repositoryDocs(): Map<string, string> {
  const names = [
    "README.md",
    ...readdirSync(path.join(ROOT, "docs"))
      .filter((name) => name.endsWith(".md"))
      .map((name) => `docs/${name}`),
  ];
  return new Map(names.map((name) => [name, readFileSync(path.join(ROOT, name), "utf8")]));
}

/** Source, workflow and stack files that send a reader to the docs (`docs/x.md#anchor`, `docs/x.md, "Heading"`). */
function filesPointingAtDocs(): string[] {
  const out: string[] = [];
  const walk = (dir: string) => {
    for (const entry of readdirSync(path.join(ROOT, dir), { withFileTypes: true })) {
      const file = path.posix.join(dir, entry.name);
      if (entry.isDirectory()) {
        walk(file);
      } else if (/\.(ts|mjs|ya?ml|sh)$|CODEOWNERS$/.test(entry.name)) {
        out.push(file);
      }
    }
  };
  for (const dir of [
    "cli",
    "clients",
    "components",
    "lib",
    "policy",
    "program",
    "providers",
    "rules",
    "tools",
  ]) {
    walk(dir);
  }
  walk(".github");
  out.push(
    ...readdirSync(ROOT).filter((name) => /^(Pulumi\..*\.ya?ml|index\.ts|eslint\.config\.mjs)$/.test(name)),
  );
  return out;
}

describe("documentation", () => {
  const docs = repositoryDocs();
  const exists = (file: string) => existsSync(path.join(ROOT, file));

  it("links only to files and headings that exist, and keeps tables within 110 columns", () => {
    assert.ok(docs.size >= 10, "README.md and docs/*.md are read");
    const problems = checkMarkdown(docs, exists);
    assert.ok(problems.length === 0, `${problems.length} problems:\n${problems.join("\n")}`);
  });

  it("sends readers from code, workflows and stack files only to docs and headings that exist", () => {
    const problems: string[] = [];
    let references = 0;
    for (const file of filesPointingAtDocs()) {
      const text = readFileSync(path.join(ROOT, file), "utf8");
      for (const match of text.matchAll(/\bdocs\/([\w-]+\.md)(?:#([\w-]+)|, "([^"]+)")?/g)) {
        references++;
        const doc = `docs/${match[1]}`;
        const at = `${file}:${lineOf(text, match.index)}`;
        if (!docs.has(doc)) {
          problems.push(`${at}: no such file ${doc}`);
        } else if (match[2] && !anchors(docs.get(doc)!).has(match[2])) {
          problems.push(`${at}: ${doc} has no heading with the anchor #${match[2]}`);
        } else if (match[3] && ![...anchors(docs.get(doc)!)].some((a) => a.startsWith(slug(match[3])))) {
          problems.push(`${at}: ${doc} has no heading starting "${match[3]}"`);
        }
      }
    }
    assert.ok(references > 10, `found ${references} references to docs/`);
    assert.ok(problems.length === 0, problems.join("\n"));
  });

  it("derives anchors as GitHub does", () => {
    const headings = [
      "# `npm run verify`: reference",
      "### 1. Bind OIDC subjects to workflow files",
      "## HTTP: the Azure SDK pipeline, with what it leaves open",
      "## Rotation, and forcing one after a leak",
      "### `managedIdentity`",
      "## Limits worth knowing",
      "## Limits worth knowing",
      "## [Linked](other.md) _emphasis_ and `snake_case`",
    ].join("\n");
    assert.deepEqual(
      [...anchors(`${headings}\n\`\`\`sh\n# not a heading\n\`\`\``)],
      [
        "npm-run-verify-reference",
        "1-bind-oidc-subjects-to-workflow-files",
        "http-the-azure-sdk-pipeline-with-what-it-leaves-open",
        "rotation-and-forcing-one-after-a-leak",
        "managedidentity",
        "limits-worth-knowing",
        "limits-worth-knowing-1",
        "linked-emphasis-and-snake_case",
      ],
    );
  });

  it("reports a missing file, a missing anchor, a link out of the repository and a wide table line", () => {
    const wide = `| ${"x".repeat(MAX_TABLE_WIDTH)} |`;
    const files = new Map([
      [
        "docs/a.md",
        [
          "# Title",
          "",
          "See [b](b.md#present), [self](#title), [gone](gone.md), [bad](b.md#absent) and [up](../../x.md).",
          "",
          "`[in code](nowhere.md)` and [web](https://example.com/missing.md#x)",
          "",
          "| short | table |",
          wide,
          "",
          "```text",
          `${wide} [in a block](nowhere.md)`,
          "```",
        ].join("\n"),
      ],
      ["docs/b.md", "## Present\n"],
    ]);
    assert.deepEqual(
      checkMarkdown(files, () => false),
      [
        "docs/a.md:3: gone.md: no such file docs/gone.md",
        "docs/a.md:3: b.md#absent: docs/b.md has no heading with the anchor #absent",
        "docs/a.md:3: ../../x.md points outside the repository",
        `docs/a.md:8: table line of ${MAX_TABLE_WIDTH + 4} characters (at most ${MAX_TABLE_WIDTH})`,
      ],
    );
  });
});
