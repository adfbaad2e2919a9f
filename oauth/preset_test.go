package oauth

import (
	"slices"
	"testing"
)

// TestPresetEndpoints pins the providers' URLs and scopes: a typo here
// only shows against the real identity providers, which tests never reach.
func TestPresetEndpoints(t *testing.T) {
	ms := "https://login.microsoftonline.com/contoso.com/oauth2/v2.0/"
	for _, tt := range []struct {
		cfg                 Config
		device, auth, token string
		scopes              []string
	}{
		{Config{Provider: Microsoft, Tenant: "contoso.com"}, ms + "devicecode", ms + "authorize", ms + "token",
			[]string{"https://outlook.office.com/SMTP.Send", "offline_access"}},
		{Config{Provider: Microsoft, Flow: FlowClientCredentials}, "https://login.microsoftonline.com/organizations/oauth2/v2.0/devicecode",
			"https://login.microsoftonline.com/organizations/oauth2/v2.0/authorize", "https://login.microsoftonline.com/organizations/oauth2/v2.0/token",
			[]string{"https://outlook.office365.com/.default"}},
		{Config{Provider: Microsoft, Tenant: "contoso.com", API: "graph"}, ms + "devicecode", ms + "authorize", ms + "token",
			[]string{"https://graph.microsoft.com/Mail.Send", "offline_access"}},
		{Config{Provider: Google}, "", "https://accounts.google.com/o/oauth2/v2/auth", "https://oauth2.googleapis.com/token",
			[]string{"https://mail.google.com/"}},
		{Config{Provider: Google, API: "gmail", Scopes: []string{"x"}}, "", "https://accounts.google.com/o/oauth2/v2/auth", "https://oauth2.googleapis.com/token",
			[]string{"x"}},
	} {
		tt.cfg.ClientID = "id"
		r, err := tt.cfg.resolve()
		if err != nil {
			t.Errorf("%+v: %v", tt.cfg, err)
			continue
		}
		e := r.endpoint
		if e.DeviceAuthURL != tt.device || e.AuthURL != tt.auth || e.TokenURL != tt.token || !slices.Equal(r.scopes, tt.scopes) {
			t.Errorf("%+v: endpoints %+v scopes %q", tt.cfg, e, r.scopes)
		}
	}
	if _, err := (Config{Provider: Google, ClientID: "id", Flow: FlowDevice}).resolve(); err == nil {
		t.Errorf("google with the device flow: no error (Google has no device endpoint for mail)")
	}
}
