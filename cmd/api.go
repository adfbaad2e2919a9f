package cmd

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"

	"mailout/delivery"
	"mailout/profiles"
)

// apiOptions configures the HTTP API transport of an API profile: the API
// key from the profile's one secret source (asked once however many
// messages go), the OAuth token source, or the AWS default credential
// chain for SES.
func (r *runner) apiOptions(p *profiles.Profile) (delivery.APIOptions, error) {
	o := delivery.APIOptions{URL: p.APIURL, MailgunDomain: p.MailgunDomain, Region: p.AWSRegion, Timeout: p.Timeout}
	switch p.Transport {
	case "mailgun", "sparkpost":
		secrets, prof := r.secrets(), p
		o.Secret = delivery.OnceSecret(func(ctx context.Context) (string, error) { return secrets.Lookup(ctx, prof) })
	case "graph", "gmail":
		b := r.bearer(p)
		o.Token, o.TokenRejected = b.token, b.rejected
	case "ses":
		region, creds, err := awsCredentials(context.Background(), p.AWSRegion)
		if err != nil {
			return o, withCode(exitConfig, fmt.Errorf("profile %q: %w", p.Name, err))
		}
		o.Region, o.Credentials = region, creds
	}
	return o, nil
}

// awsCredentials is the AWS default chain (environment, shared config and
// credentials files, SSO, container and instance roles), cached, and the
// region: aws_region, else the chain's (AWS_REGION, ~/.aws/config). It
// stays in cmd, the one place that reads the process environment: the
// SDK's config.LoadDefaultConfig reads os.Getenv and ~/.aws itself and
// takes no getenv to inject, so delivery only receives the result.
func awsCredentials(ctx context.Context, region string) (string, aws.CredentialsProvider, error) {
	var opts []func(*config.LoadOptions) error
	if region != "" {
		opts = append(opts, config.WithRegion(region))
	}
	cfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return "", nil, fmt.Errorf("aws configuration: %w", err)
	}
	if cfg.Region == "" {
		return "", nil, fmt.Errorf("no AWS region: set aws_region in the profile, or AWS_REGION")
	}
	return cfg.Region, cfg.Credentials, nil
}
