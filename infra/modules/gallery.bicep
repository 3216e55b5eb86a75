// Deployed into the gallery's resource group: the service's read access to the gallery, and the
// Event Grid system topic on that resource group with the subscription that delivers every new
// gallery image version of the watched gallery to the `on_gallery_event` function.

@description('Name of the Azure Compute Gallery (in this resource group) whose new image versions trigger builds.')
param galleryName string

@description('Name of the Event Grid system topic of this resource group. Azure allows one per source: if the resource group already has one, give its name.')
param systemTopicName string

param tags object

@description('Principal id of the function app identity.')
param appPrincipalId string

@description('Resource id of the custom role that reads gallery image versions.')
param galleryReaderRoleId string

@description('Resource id of the user-assigned identity Event Grid uses to write dead letters.')
param eventGridIdentityId string

@description('Create the event subscription. Needs the function code published first (Event Grid checks the function exists).')
param deployEventSubscription bool

@description('Resource id of the function app.')
param functionAppId string

@description('Name of the Event Grid triggered function.')
param functionName string

@description('Resource id of the storage account that receives dead letters.')
param deadLetterStorageAccountId string

@description('Blob container that receives dead letters.')
param deadLetterContainerName string

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

resource systemTopic 'Microsoft.EventGrid/systemTopics@2025-02-15' = {
  name: systemTopicName
  location: 'global'
  tags: tags
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${eventGridIdentityId}': {}
    }
  }
  properties: {
    source: resourceGroup().id
    topicType: 'Microsoft.Resources.ResourceGroups'
  }
}

resource galleryVersions 'Microsoft.EventGrid/systemTopics/eventSubscriptions@2025-02-15' = if (deployEventSubscription) {
  parent: systemTopic
  name: 'aibtrigger-gallery-versions'
  properties: {
    eventDeliverySchema: 'EventGridSchema'
    destination: {
      endpointType: 'AzureFunction'
      properties: {
        resourceId: '${functionAppId}/functions/${functionName}'
        maxEventsPerBatch: 1
        preferredBatchSizeInKilobytes: 64
      }
    }
    filter: {
      includedEventTypes: [
        'Microsoft.Resources.ResourceWriteSuccess'
      ]
      subjectBeginsWith: gallery.id
      enableAdvancedFilteringOnArrays: true
      advancedFilters: [
        {
          operatorType: 'StringIn'
          key: 'data.operationName'
          values: [
            'Microsoft.Compute/galleries/images/versions/write'
          ]
        }
        {
          operatorType: 'StringContains'
          key: 'subject'
          values: [
            '/providers/Microsoft.Compute/galleries/'
          ]
        }
      ]
    }
    // Retry for a day, then keep the event in blob storage: nothing is lost silently.
    retryPolicy: {
      maxDeliveryAttempts: 30
      eventTimeToLiveInMinutes: 1440
    }
    deadLetterWithResourceIdentity: {
      identity: {
        type: 'UserAssigned'
        userAssignedIdentity: eventGridIdentityId
      }
      deadLetterDestination: {
        endpointType: 'StorageBlob'
        properties: {
          resourceId: deadLetterStorageAccountId
          blobContainerName: deadLetterContainerName
        }
      }
    }
  }
}

output galleryId string = gallery.id
output systemTopicId string = systemTopic.id
