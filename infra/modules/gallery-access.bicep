// Deployed into the gallery's resource group by grants.bicep: the service's read access to the
// watched gallery (the resource itself, the narrowest scope).

@description('Name of the Azure Compute Gallery (in this resource group) whose new image versions trigger builds.')
param galleryName string

@description('Principal id of the service identity.')
param appPrincipalId string

@description('Resource id of the custom role that reads gallery image versions.')
param galleryReaderRoleId string

resource gallery 'Microsoft.Compute/galleries@2023-07-03' existing = {
  name: galleryName
}

// Read the versions of the gallery's images (new-version events carry no body; the service reads
// the version to confirm it succeeded, and lists versions for `/versions/latest` sources).
resource galleryReader 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(gallery.id, appPrincipalId, galleryReaderRoleId)
  scope: gallery
  properties: {
    roleDefinitionId: galleryReaderRoleId
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
    description: 'aibtrigger: read gallery image versions'
  }
}
