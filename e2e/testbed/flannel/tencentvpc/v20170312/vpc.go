// Package v20170312 provides the few names flannel's tencentvpc backend uses from the Tencent
// Cloud VPC SDK. The test bed's flannel build runs the vxlan backend; a client from here answers
// every request with ErrNotBuilt, so selecting the tencentvpc backend fails with a clear reason.
package v20170312

import "errors"

// ErrNotBuilt is what every request returns.
var ErrNotBuilt = errors.New("the tencentvpc backend is not available in the kindstack test bed's flannel build")

// Client answers every request with ErrNotBuilt.
type Client struct{}

// NewClientWithSecretId returns a Client; the credentials and region are not used.
func NewClientWithSecretId(secretID, secretKey, region string) (*Client, error) {
	return &Client{}, nil
}

// Filter narrows DescribeRouteTables.
type Filter struct {
	Name   *string
	Values []*string
}

// Route is one route of a route table.
type Route struct {
	DestinationCidrBlock *string
	GatewayType          *string
	GatewayId            *string
	RouteId              *uint64
	RouteType            *string
	Enabled              *bool
}

// RouteTable is a VPC route table.
type RouteTable struct {
	RouteTableId *string
	RouteSet     []*Route
}

// DescribeRouteTablesRequest asks for route tables.
type DescribeRouteTablesRequest struct {
	Filters []*Filter
}

// NewDescribeRouteTablesRequest returns an empty request.
func NewDescribeRouteTablesRequest() *DescribeRouteTablesRequest {
	return &DescribeRouteTablesRequest{}
}

// DescribeRouteTablesResponse is the answer to DescribeRouteTables.
type DescribeRouteTablesResponse struct {
	Response *struct {
		RouteTableSet []*RouteTable
	}
}

// DescribeRouteTables returns ErrNotBuilt.
func (c *Client) DescribeRouteTables(*DescribeRouteTablesRequest) (*DescribeRouteTablesResponse, error) {
	return nil, ErrNotBuilt
}

// DeleteRoutesRequest deletes routes from a table.
type DeleteRoutesRequest struct {
	RouteTableId *string
	Routes       []*Route
}

// NewDeleteRoutesRequest returns an empty request.
func NewDeleteRoutesRequest() *DeleteRoutesRequest { return &DeleteRoutesRequest{} }

// DeleteRoutesResponse is the answer to DeleteRoutes.
type DeleteRoutesResponse struct{}

// DeleteRoutes returns ErrNotBuilt.
func (c *Client) DeleteRoutes(*DeleteRoutesRequest) (*DeleteRoutesResponse, error) {
	return nil, ErrNotBuilt
}

// CreateRoutesRequest adds routes to a table.
type CreateRoutesRequest struct {
	RouteTableId *string
	Routes       []*Route
}

// NewCreateRoutesRequest returns an empty request.
func NewCreateRoutesRequest() *CreateRoutesRequest { return &CreateRoutesRequest{} }

// CreateRoutesResponse is the answer to CreateRoutes.
type CreateRoutesResponse struct{}

// CreateRoutes returns ErrNotBuilt.
func (c *Client) CreateRoutes(*CreateRoutesRequest) (*CreateRoutesResponse, error) {
	return nil, ErrNotBuilt
}
