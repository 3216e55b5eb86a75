// Deployed by grants.bicep into the resource group of each gallery the catalog's templates
// distribute to (distributionGalleries): the service's right to change the image versions of that
// gallery (promotion, rollback, retirement, provenance tags, replicating again) and, only for an
// instance that prunes, to delete them. Both on the gallery resource itself, the narrowest scope;
// the status of the gallery's asynchronous operations on the resource group (ARM authorizes it there).

@description('Name of a gallery (in this resource group) that the catalog\'s templates distribute to.')
param galleryName string

@description('Principal id of the service identity.')
param appPrincipalId string

@description('Resource id of the custom role that reads and changes gallery image versions.')
param galleryVersionEditorRoleId string

@description('Resource id of the custom role that reads the status of asynchronous gallery operations.')
param galleryOperationReaderRoleId string

@description('Resource id of the custom role that deletes gallery image versions.')
param galleryVersionPrunerRoleId string

@description('Assign the delete role: true only for an instance that applies retention (grants.bicep galleryVersionRetention).')
param prune bool = false

resource gallery 'Microsoft.Compute/galleries@2023-07-03' existing = {
  name: galleryName
}

// PATCH the versions of the gallery's images: tags (provenance of every version the service's runs
// distribute, promotion state), excludeFromLatest (promotion, rollback), endOfLifeDate (retirement),
// targetRegions (replicate again); and read them to know what to change.
resource versionEditor 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(gallery.id, appPrincipalId, galleryVersionEditorRoleId)
  scope: gallery
  properties: {
    roleDefinitionId: galleryVersionEditorRoleId
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
    description: 'aibtrigger: read and change gallery image versions (tags, excludeFromLatest, endOfLifeDate, target regions)'
  }
}

// Delete the versions a template's policy.retention lets go (`aibtrigger prune`, the prune timer).
// Absent unless asked: an instance without retention never holds delete.
resource versionPruner 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (prune) {
  name: guid(gallery.id, appPrincipalId, galleryVersionPrunerRoleId)
  scope: gallery
  properties: {
    roleDefinitionId: galleryVersionPrunerRoleId
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
    description: 'aibtrigger: delete gallery image versions that a template retention policy lets go'
  }
}

// Follow a PATCH or DELETE of a version to its end: its status is at .../providers/Microsoft.Compute/
// locations/{region}/capsOperations/{id}, under no gallery, and ARM authorizes tracking it at
// resource-group level. Two distribution galleries in one resource group make the same assignment
// (same name, same properties): grants.bicep deploys them one after the other (@batchSize(1)), so
// the second writes what is already there.
resource operationReader 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(resourceGroup().id, appPrincipalId, galleryOperationReaderRoleId)
  properties: {
    roleDefinitionId: galleryOperationReaderRoleId
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
    description: 'aibtrigger: read the status of asynchronous gallery operations (version update, deletion)'
  }
}
