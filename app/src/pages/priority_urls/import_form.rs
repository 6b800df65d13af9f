//! The upload form. It posts `multipart/form-data` to `/admin/priority-urls/{account}/import`, so it
//! works as a plain form without JavaScript (the server redirects back with the result); with
//! JavaScript, `public/priority-urls-upload.js` sends it with XMLHttpRequest and drives the progress bar.

use leptos::prelude::*;

#[component]
pub fn ImportForm(account: String) -> impl IntoView {
    let action = format!("/admin/priority-urls/{account}/import");
    view! {
        <form method="post" action=action enctype="multipart/form-data" class="import-form" data-upload-form=""
            aria-label="Import priority URLs">
            <div class="field">
                <label for="import-file">"File (CSV or JSON Lines)"</label>
                <input id="import-file" type="file" name="file" required accept=".csv,.jsonl,.ndjson,.json,text/csv"
                    aria-describedby="import-file-hint" />
                <p class="hint" id="import-file-hint">
                    "Columns or properties " <code>"url"</code> ", " <code>"update_priority"</code>
                    " (critical, high, medium, low) and " <code>"page_type"</code>
                    " (home, category, product, article, landing, search, other). UTF-8; other columns are ignored."
                </p>
            </div>
            <div class="import-options">
                <div class="field">
                    <label for="import-format">"Format"</label>
                    <select id="import-format" name="format">
                        <option value="">"From the file name"</option>
                        <option value="csv">"CSV"</option>
                        <option value="jsonl">"JSON Lines"</option>
                    </select>
                </div>
                <label class="checkbox">
                    <input type="checkbox" name="dry_run" value="on" />
                    " Dry run: report what would change, change nothing"
                </label>
            </div>
            <div class="form-actions">
                <button type="submit" class="btn btn-primary">"Import"</button>
            </div>
            <div class="upload-progress" data-upload-progress="" hidden=true>
                <progress max="100" value="0" aria-label="Upload progress"></progress>
                <p class="small" role="status" data-upload-status="" data-testid="upload-status"></p>
            </div>
            <div class="state state-error" role="alert" data-upload-error="" data-testid="upload-error" hidden=true></div>
        </form>
    }
}
