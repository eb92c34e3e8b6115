// tz_app: inline editing on the user list, and confirmations before deleting.
// Everything here is an enhancement: without JavaScript the Edit link opens
// the edit page and Delete posts the page's shared row-action form.
(function () {
  "use strict";

  var FIELDS = ["last_name", "name", "paternity_name", "email", "role"];
  // Words in the page's language, from <script type="application/json" id="i18n">.
  // The users page adds its own (<script type="application/json" id="users-text">).
  function readText(id) {
    var node = document.getElementById(id);
    try { return node ? JSON.parse(node.textContent) : {}; } catch (e) { return {}; }
  }
  var TEXT = readText("i18n");
  var USERS_TEXT = readText("users-text");
  Object.keys(USERS_TEXT).forEach(function (k) { TEXT[k] = USERS_TEXT[k]; });
  function t(key, fallback) { return TEXT[key] || fallback; }
  function named(key, fallback, name) { return t(key, fallback).replace("%(name)s", name); }

  function csrfToken() {
    var meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.content : "";
  }

  function postForm(url, body) {
    return fetch(url, {
      method: "POST",
      body: body,
      credentials: "same-origin",
      headers: { "X-CSRFToken": csrfToken(), "Accept": "application/json" }
    });
  }

  function el(tag, attrs, text) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function cell(row, field) { return row.querySelector('td[data-field="' + field + '"]'); }

  function usersTable(row) { return row.closest("table[data-users-url]"); }

  function fullName(row) {
    return ["name", "paternity_name", "last_name"].map(function (field) {
      var td = cell(row, field);
      return td ? td.textContent.trim() : "";
    }).filter(Boolean).join(" ");
  }

  // Labels the server leaves out of every row: each cell's heading, for the
  // stacked layout of narrow screens, and each button's full name for
  // screen readers ("Edit Olena Kovalenko", not a column of "Edit").
  function labelRows(table) {
    var headings = Array.prototype.map.call(table.tHead.rows[0].cells, function (th) {
      return th.textContent.trim();
    });
    Array.prototype.forEach.call(table.tBodies[0].rows, function (row) {
      Array.prototype.forEach.call(row.cells, function (td, i) {
        if (td.hasAttribute("data-field") && headings[i]) td.setAttribute("data-label", headings[i]);
      });
      nameButtons(row);
    });
  }

  function nameButtons(row) {
    var name = fullName(row);
    var edit = row.querySelector('[data-action="edit"]');
    var del = row.querySelector('[data-action="delete"]');
    if (edit) edit.setAttribute("aria-label", named("edit_named", "Edit %(name)s", name));
    if (del) del.setAttribute("aria-label", named("delete_named", "Delete %(name)s", name));
  }

  function clearErrors(row) {
    row.querySelectorAll(".field-error, .row-error").forEach(function (n) { n.remove(); });
    row.querySelectorAll("[aria-invalid]").forEach(function (n) { n.removeAttribute("aria-invalid"); });
  }

  function showErrors(row, errors) {
    Object.keys(errors).forEach(function (field) {
      var input = row.querySelector('[name="' + field + '"]');
      var text = [].concat(errors[field]).join(" ");
      var msg = el("p", { "class": "field-error", id: "err-" + row.dataset.userId + "-" + field }, text);
      if (input) {
        input.setAttribute("aria-invalid", "true");
        input.setAttribute("aria-describedby", msg.id);
        input.insertAdjacentElement("afterend", msg);
      } else {
        row.querySelector("td.actions").appendChild(el("p", { "class": "row-error", role: "alert" }, text));
      }
    });
    var first = row.querySelector('[aria-invalid="true"]');
    if (first) first.focus();
  }

  // A role cell shows <span class="badge role-NAME">; role names are made of
  // lower-case letters, digits, dots, dashes and underscores.
  function roleOf(td) {
    var badge = td.querySelector(".badge");
    var match = badge && /(?:^|\s)role-(\S+)/.exec(badge.className);
    return match ? match[1] : "";
  }

  function roleLabel(name) {
    var options = document.getElementById("role-options");
    var option = options && options.content.querySelector('option[value="' + name + '"]');
    return option ? option.textContent : name;
  }

  function startEdit(row) {
    if (row.classList.contains("editing")) return;
    var original = {};
    row.classList.add("editing");
    FIELDS.forEach(function (field) {
      var td = cell(row, field);
      if (!td) return;
      original[field] = td.innerHTML;
      var value = field === "role" ? roleOf(td) : td.textContent.trim();
      var input;
      if (field === "role") {
        var options = document.getElementById("role-options");
        if (!options || !usersTable(row).hasAttribute("data-role-editable")) return;
        input = el("select", { name: "role" });
        input.innerHTML = options.innerHTML;
        input.value = value;
      } else {
        input = el("input", {
          type: field === "email" ? "email" : "text", name: field, value: value, maxlength: field === "email" ? 254 : 100
        });
      }
      input.setAttribute("aria-label", t(field, field));
      td.textContent = "";
      td.appendChild(input);
    });
    var actions = row.querySelector("td.actions");
    original.actions = Array.prototype.slice.call(actions.childNodes);
    var password = el("input", {
      type: "password", name: "password", autocomplete: "new-password",
      placeholder: t("new_password", "New password (optional)"), "aria-label": t("password", "New password")
    });
    var save = el("button", { type: "button", "class": "btn btn-primary", "data-action": "save" }, t("save", "Save"));
    var cancel = el("button", { type: "button", "class": "btn btn-ghost", "data-action": "cancel" }, t("cancel", "Cancel"));
    actions.textContent = "";
    [password, save, cancel].forEach(function (n) { actions.appendChild(n); });
    row._original = original;
    row.querySelector("input").focus();

    save.addEventListener("click", function () { submitEdit(row, save); });
    cancel.addEventListener("click", function () { stopEdit(row, null); });
    row.addEventListener("keydown", row._keys = function (event) {
      if (event.key === "Enter" && event.target.tagName === "INPUT") { event.preventDefault(); submitEdit(row, save); }
      if (event.key === "Escape") { stopEdit(row, null); }
    });
  }

  function stopEdit(row, user) {
    var original = row._original;
    FIELDS.forEach(function (field) {
      var td = cell(row, field);
      if (!td || !(field in original)) return;
      if (user && field === "role") {
        td.textContent = "";
        td.appendChild(el("span", { "class": "badge role-" + user.role }, roleLabel(user.role)));
      } else if (user) {
        td.textContent = user[field] || "";
      } else {
        td.innerHTML = original[field];
      }
    });
    var actions = row.querySelector("td.actions");
    actions.textContent = "";
    original.actions.forEach(function (n) { actions.appendChild(n); });
    row.removeEventListener("keydown", row._keys);
    row.classList.remove("editing");
    if (user) nameButtons(row);
    var edit = row.querySelector('[data-action="edit"]');
    if (edit) edit.focus();
  }

  function submitEdit(row, button) {
    var body = new FormData();
    row.querySelectorAll("input[name], select[name]").forEach(function (input) {
      if (input.name === "password" && !input.value) return;
      body.append(input.name, input.value);
    });
    clearErrors(row);
    button.disabled = true;
    var url = usersTable(row).getAttribute("data-users-url") + row.dataset.userId + "/update/";
    postForm(url, body).then(function (response) {
      return response.json().catch(function () { return {}; }).then(function (data) {
        if (response.ok) {
          stopEdit(row, data);
          row.classList.add("saved");
          setTimeout(function () { row.classList.remove("saved"); }, 1600);
        } else if (response.status === 401 && data.error === "reauth_required") {
          // A new password or email needs a recent proof of who you are.
          window.location.assign("/reauth/?next=" + encodeURIComponent(window.location.pathname + window.location.search));
        } else if (response.status === 401) {
          window.location.assign("/login/?next=" + encodeURIComponent(window.location.pathname + window.location.search));
        } else if (response.status === 403 && data.error === "mfa_setup_required") {
          window.location.assign("/mfa/");
        } else if (data.errors) {
          showErrors(row, data.errors);
        } else {
          showErrors(row, { _: data.message || t("failed", "Could not save.") });
        }
      });
    }).catch(function () {
      showErrors(row, { _: t("offline", "Could not reach the server. Check your connection and try again.") });
    }).then(function () { button.disabled = false; });
  }

  document.addEventListener("click", function (event) {
    var edit = event.target.closest('a[data-action="edit"]');
    if (edit) {
      var row = edit.closest("table[data-users-url] tr[data-user-id]");
      if (row && !event.ctrlKey && !event.metaKey && !event.shiftKey) {
        event.preventDefault();
        startEdit(row);
      }
    }
  });

  // A question before a form goes: the form's data-confirm, or for a row's
  // Delete button, one that names the user (or warns that it is you).
  function confirmation(form, button) {
    var row = button && button.getAttribute("data-action") === "delete" && button.closest("tr[data-user-id]");
    if (!row) return form.getAttribute("data-confirm");
    if (row.dataset.userId === usersTable(row).getAttribute("data-viewer-id")) {
      return t("delete_self", "Delete your own account? You will be signed out.");
    }
    return named("delete_ask", "Delete %(name)s?", fullName(row));
  }

  document.addEventListener("submit", function (event) {
    var question = confirmation(event.target, event.submitter);
    if (question && !window.confirm(question)) {
      event.preventDefault();
    }
  });

  document.querySelectorAll("table[data-users-url]").forEach(labelRows);
})();
