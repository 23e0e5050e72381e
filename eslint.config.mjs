// @ts-check
import eslint from "@eslint/js";
import globals from "globals";
import tseslint from "typescript-eslint";

export default tseslint.config(
  { ignores: ["node_modules/", "bin/", "**/*.js", "**/*.mjs"] },
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
);
