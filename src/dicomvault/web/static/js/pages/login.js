// The login page: the same password login as every other door (POST /api/auth/login).

import { field, h, replace } from "../dom.js";
import { session } from "../session.js";

export function renderLogin(view, done) {
  document.title = "Log in · dicomvault";
  const username = h("input", { name: "username", autocomplete: "username", required: true });
  const password = h("input", { name: "password", type: "password",
                                autocomplete: "current-password", required: true });
  const error = h("p", { class: "error-text", role: "alert" });
  const submit = h("button", { type: "submit" }, "Log in");
  const form = h("form", { class: "login", "aria-labelledby": "login-title" },
    h("h1", { id: "login-title" }, "dicomvault"),
    field("User name", username), field("Password", password), submit, error);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    submit.disabled = true;
    error.textContent = "";
    try {
      await session.login(username.value, password.value);
      done();
    } catch (exc) {
      error.textContent = exc.message || "Login failed";
      password.value = "";
      password.focus();
    } finally {
      submit.disabled = false;
    }
  });
  replace(view, form);
  username.focus();
}
