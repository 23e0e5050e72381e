// @ts-check
import eslint from "@eslint/js";
import globals from "globals";
import tseslint from "typescript-eslint";

/**
 * Which folder may import which (docs/architecture.md): data flows one way, rules -> clients -> providers
 * and rules -> program -> components -> index.ts, and nothing imports the operator CLIs, the tools or the
 * tests. Each layer lists the project folders it must NOT import, and whether it may use the Pulumi SDK
 * (`"types"`: type imports only, for code that runs in the provider host) and the Azure SDK.
 */
const LAYERS = [
  {
    folder: "rules",
    forbidden: ["cli", "clients", "components", "lib", "policy", "program", "providers", "tests", "tools"],
    pulumi: false,
    azure: false,
  },
  {
    folder: "clients",
    forbidden: ["cli", "components", "lib", "policy", "program", "providers", "tests", "tools"],
    pulumi: false,
  },
  {
    folder: "providers",
    forbidden: ["cli", "components", "lib", "policy", "program", "tests", "tools"],
    pulumi: "types",
  },
  {
    // Lookups the program makes before declaring anything (the tenant's credential policy) use the typed clients.
    folder: "program",
    forbidden: ["cli", "components", "lib", "policy", "providers", "tests", "tools"],
  },
  { folder: "components", forbidden: ["cli", "clients", "lib", "policy", "program", "tests", "tools"] },
  {
    folder: "policy",
    forbidden: ["cli", "clients", "components", "lib", "program", "providers", "tests", "tools"],
  },
  { folder: "cli", forbidden: ["lib", "tests", "tools"] },
  { folder: "tools", forbidden: ["cli", "components", "lib", "program", "providers", "tests"] },
];

/** A pattern for a relative import that reaches into `folder` from any depth below the project root. */
const into = (folder) => ({
  regex: `^(\\.\\./)+${folder}(/|$)`,
  message: `imports flow one way: this folder must not import ${folder}/ (see docs/architecture.md)`,
});

const layerRules = LAYERS.map(({ folder, forbidden, pulumi = true, azure = true }) => ({
  files: [`${folder}/**/*.ts`],
  rules: {
    "@typescript-eslint/no-restricted-imports": [
      "error",
      {
        patterns: [
          ...forbidden.map(into),
          ...(pulumi === true
            ? []
            : [
                {
                  group: ["@pulumi/*"],
                  allowTypeImports: pulumi === "types",
                  message:
                    pulumi === "types"
                      ? "type imports of the Pulumi SDK only: this code runs in the provider host"
                      : "no Pulumi SDK here: this code runs without a Pulumi engine",
                },
              ]),
          ...(azure ? [] : [{ group: ["@azure/*"], message: "rules are pure: no SDK imports" }]),
        ],
      },
    ],
  },
}));

export default tseslint.config(
  { ignores: ["node_modules/", "bin/", "**/*.js", "**/*.mjs", "**/*.cjs"] },
  eslint.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { ...globals.node, ...globals.mocha } },
    rules: {
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_" }],
      // Resources declared inside apply() are invisible to preview and break dependency tracking.
      "no-restricted-syntax": [
        "error",
        {
          selector:
            "CallExpression[callee.property.name='apply'] NewExpression[callee.object.name=/^(azuread|keyvault|authorization|random)$/]",
          message: "Never create resources inside apply(); pass Outputs as inputs instead.",
        },
      ],
    },
  },
  ...layerRules,
  {
    // The program's entry wires config, lookups and components. It never reaches the CLIs, tools or tests,
    // nor the providers, which only the provider host runs, nor the clients (program/ wraps the lookups).
    files: ["index.ts"],
    rules: {
      "@typescript-eslint/no-restricted-imports": [
        "error",
        {
          patterns: ["cli", "clients", "lib", "providers", "tests", "tools"].map((folder) => ({
            regex: `^\\./${folder}(/|$)`,
            message: `index.ts must not import ${folder}/ (see docs/architecture.md)`,
          })),
        },
      ],
    },
  },
);
